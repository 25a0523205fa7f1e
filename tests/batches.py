"""Rows and batches (rec_jax/batch.py) for tests: only the fields a test sets, the rest neutral."""

from __future__ import annotations

import numpy as np

from rec_jax.batch import Batch, Rows, TextBlock, Texts


def make_batch(*, label=None, weight=None, user_id=None, item_id=None, history=None, categorical=None, numeric=None,
               text=None, query=None, item_log_q=None, negatives=None) -> Batch:
  given = [a for a in (label, weight, user_id, item_id, history) if a is not None]
  given += list((categorical or {}).values()) + list((numeric or {}).values())
  n = len(given[0])
  return Batch(label=np.zeros(n, np.float32) if label is None else label,
               weight=np.ones(n, np.float32) if weight is None else weight,
               user_id=np.zeros(n, np.int32) if user_id is None else user_id,
               item_id=np.zeros(n, np.int32) if item_id is None else item_id,
               history=np.zeros((n, 1), np.int32) if history is None else history,
               categorical=dict(categorical or {}), numeric=dict(numeric or {}), text=text, query=query,
               item_log_q=item_log_q, negatives=negatives)


def token_block(ids, mask=None, types=None, slot=None) -> TextBlock:
  """A block of tokenised texts; by default every row reads its own text (slot = row)."""
  ids = np.asarray(ids)
  return TextBlock(Texts(ids=ids, mask=np.ones_like(ids) if mask is None else mask,
                         types=np.zeros_like(ids) if types is None else types),
                   np.arange(len(ids), dtype=np.int32) if slot is None else slot)


def make_rows(*, label, **fields) -> Rows:
  """Rows of a split: `label` and the fields given; ids, histories and the evaluation columns neutral."""
  n = len(label)
  defaults = dict(user_id=np.zeros(n, np.int32), item_id=np.zeros(n, np.int32), history=np.zeros((n, 1), np.int32),
                  categorical={}, numeric={}, item_is_cold=np.zeros(n, bool), rank_group=np.zeros(n, np.int32))
  return Rows(label=label, **{**defaults, **fields})
