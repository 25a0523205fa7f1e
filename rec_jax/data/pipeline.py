"""Batches of the batch contract (flat dict of fixed-shape numpy arrays) from `FeatureArrays`.

Training batches are a pure function of (seed, step): resuming at step s gives exactly the batches an uninterrupted
run would have seen. Evaluation batches cover every row exactly once; the last one is padded and its `weight` is 0
on padding rows, so metrics never drop or double-count a row.
"""

from __future__ import annotations

import functools
from typing import Dict, Iterator

import numpy as np

from rec_jax.data.features import TEXT_GROUPS, FeatureArrays

Batch = Dict[str, np.ndarray]


TEXT_SLOT_BUCKETS = 8
# Columns of a second block of rows carried in the same batch (extra negatives of retrieval; data/retrieval_rows.py).
NEGATIVE_PREFIX = "neg/"


def text_slot_count(num_unique: int, batch_size: int, shards: int = 1) -> int:
  """Rows of the batch's text block: the distinct texts rounded up to a multiple of batch_size / 8 (itself rounded
  up to a multiple of `shards`, the devices the batch is split over), so jit sees at most 8 shapes and the block
  shards evenly wherever the batch does (the batch size is a multiple of `shards`)."""
  step = max(batch_size // TEXT_SLOT_BUCKETS, 1)
  step = -(-step // shards) * shards
  return min(-(-num_unique // step) * step, batch_size)


def gather(arrays: FeatureArrays, index: np.ndarray, shards: int = 1) -> Batch:
  """Rows `index` of `arrays`; each distinct text (and query) of the batch is included once.

  Items repeat within a batch, and the text tower is by far the costliest part of a step, so the batch carries a
  block of distinct texts (`text_ids`, `text_mask`, `text_types`: [slots, length], padded with repeats of the
  first text) and `text_slot` [batch]: which row of the block is each row's text. Search queries likewise
  (`query_*` tables, `query_slot`).
  """
  batch = {k: v[index] for k, v in arrays.rows.items()}
  for group in TEXT_GROUPS:
    if f"{group}_index" not in batch:
      continue
    unique, slot = np.unique(batch.pop(f"{group}_index"), return_inverse=True)
    slots = text_slot_count(len(unique), len(index), shards)
    unique = np.concatenate([unique, np.full(slots - len(unique), unique[0])])
    batch.update({k: table[unique] for k, table in arrays.texts.items() if k.startswith(f"{group}_")})
    batch[f"{group}_slot"] = slot.astype(np.int32)
  return batch


@functools.lru_cache(maxsize=2)
def _epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_rows)


def steps_per_epoch(num_rows: int, batch_size: int) -> int:
  if num_rows < batch_size:
    raise ValueError(f"the train split has {num_rows} rows, fewer than one batch of {batch_size}")
  return num_rows // batch_size


def train_batch(arrays: FeatureArrays, step: int, batch_size: int, seed: int, shards: int = 1) -> Batch:
  """The batch of global step `step`: epochs are fresh permutations; each epoch's last partial batch is skipped."""
  per_epoch = steps_per_epoch(len(arrays), batch_size)
  epoch, offset = divmod(step, per_epoch)
  order = _epoch_order(len(arrays), seed, epoch)
  batch = gather(arrays, order[offset * batch_size:(offset + 1) * batch_size], shards)
  batch["weight"] = np.ones(batch_size, dtype=np.float32)
  return batch


def eval_batches(arrays: FeatureArrays, batch_size: int, shards: int = 1) -> Iterator[Batch]:
  """Every row once, in order; the last batch is padded with row 0 at weight 0."""
  n = len(arrays)
  for start in range(0, n, batch_size):
    index = np.arange(start, min(start + batch_size, n))
    real = len(index)
    index = np.concatenate([index, np.zeros(batch_size - real, dtype=index.dtype)])
    batch = gather(arrays, index, shards)
    batch["weight"] = (np.arange(batch_size) < real).astype(np.float32)
    yield batch
