"""Batches (rec_jax/batch.py's `Batch`) from a split's `FeatureArrays`.

Training batches are a pure function of (seed, step): resuming at step s gives exactly the batches an uninterrupted
run would have seen. Evaluation batches cover every row exactly once; the last one is padded and its `weight` is 0
on padding rows, so metrics never drop or double-count a row.
"""

from __future__ import annotations

import functools
from typing import Iterator

import numpy as np

from rec_jax.batch import Batch, FeatureArrays, TextBlock
from rec_jax.errors import UserError

TEXT_SLOT_BUCKETS = 8


def text_slot_count(num_unique: int, batch_size: int, shards: int = 1) -> int:
  """Rows of the batch's text block: the distinct texts rounded up to a multiple of batch_size / 8 (itself rounded
  up to a multiple of `shards`, the devices the batch is split over), so jit sees at most 8 shapes and the block
  shards evenly wherever the batch does (the batch size is a multiple of `shards`)."""
  step = max(batch_size // TEXT_SLOT_BUCKETS, 1)
  step = -(-step // shards) * shards
  return min(-(-num_unique // step) * step, batch_size)


def gather(arrays: FeatureArrays, index: np.ndarray, weight: np.ndarray, shards: int = 1) -> Batch:
  """The batch of rows `index` of `arrays` (`weight` [len(index)]: 0 on padding rows).

  Items repeat within a batch, and the text tower is by far the costliest part of a step, so each text group's
  distinct texts are in the batch once (`TextBlock.texts` [slots, ...], padded with repeats of the first) and each
  row finds its own by `TextBlock.slot` [batch].
  """
  rows = arrays.rows.take(index)
  blocks = {}
  for group, text_index in rows.text_indices().items():
    unique, slot = np.unique(text_index, return_inverse=True)
    slots = text_slot_count(len(unique), len(index), shards)
    unique = np.concatenate([unique, np.full(slots - len(unique), unique[0])])
    blocks[group] = TextBlock(texts=getattr(arrays.texts, group).take(unique), slot=slot.astype(np.int32))
  return Batch(label=rows.label, weight=weight, user_id=rows.user_id, item_id=rows.item_id, history=rows.history,
               categorical=rows.categorical, numeric=rows.numeric, item_log_q=rows.item_log_q, **blocks)


@functools.lru_cache(maxsize=2)
def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
  """The order rows are visited in during training epoch `epoch`."""
  return np.random.default_rng([seed, epoch]).permutation(num_rows)


def steps_per_epoch(num_rows: int, batch_size: int, what: str = "rows") -> int:
  if num_rows < batch_size:
    raise UserError(f"the train split has {num_rows} {what}, fewer than one batch of {batch_size} "
                    "(train.batch_size)")
  return num_rows // batch_size


def train_batch(arrays: FeatureArrays, step: int, batch_size: int, seed: int, shards: int = 1) -> Batch:
  """The batch of global step `step`: epochs are fresh permutations; each epoch's last partial batch is skipped."""
  per_epoch = steps_per_epoch(len(arrays), batch_size)
  epoch, offset = divmod(step, per_epoch)
  order = epoch_order(len(arrays), seed, epoch)
  return gather(arrays, order[offset * batch_size:(offset + 1) * batch_size], np.ones(batch_size, np.float32), shards)


def eval_batches(arrays: FeatureArrays, batch_size: int, shards: int = 1) -> Iterator[Batch]:
  """Every row once, in order; the last batch is padded with row 0 at weight 0."""
  n = len(arrays)
  for start in range(0, n, batch_size):
    index = np.arange(start, min(start + batch_size, n))
    real = len(index)
    index = np.concatenate([index, np.zeros(batch_size - real, dtype=index.dtype)])
    yield gather(arrays, index, (np.arange(batch_size) < real).astype(np.float32), shards)
