"""Batches (rec_jax/batch.py's `Batch`) from a split's `FeatureArrays`.

Training batches are a pure function of (seed, step): resuming at step s gives exactly the batches an uninterrupted
run would have seen. Evaluation batches cover every row exactly once; the last one is padded and its `weight` is 0
on padding rows, so metrics never drop or double-count a row.

With many processes (rec_jax/distributed.py) every process draws the same global batch indices and builds only its
`BatchShare` of the rows (parallel.batch_share); parallel.shard_batch assembles the global arrays.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator, Tuple

import numpy as np

from rec_jax.batch import Batch, FeatureArrays, TextBlock
from rec_jax.errors import UserError

TEXT_SLOT_BUCKETS = 8


@dataclasses.dataclass(frozen=True)
class BatchShare:
  """The rows of every global batch one process builds: the `index`-th of `count` equal contiguous slices, split
  over `devices` of its devices (parallel.batch_share). `WHOLE`: one process, one device, the whole batch."""
  devices: int = 1
  index: int = 0
  count: int = 1

  def rows(self, size: int) -> slice:
    """This share of `size` global rows."""
    if size % self.count:
      raise UserError(f"a batch of {size} rows does not split over {self.count} processes")
    part = size // self.count
    return slice(self.index * part, (self.index + 1) * part)

  def shares(self):
    """Every process's share, this one's among them (text blocks are sized alike on all of them)."""
    return [dataclasses.replace(self, index=i) for i in range(self.count)]


WHOLE = BatchShare()


def text_slot_count(num_unique: int, batch_size: int, shards: int = 1) -> int:
  """Rows of the batch's text block: the distinct texts rounded up to a multiple of batch_size / 8 (itself rounded
  up to a multiple of `shards`, the devices the batch is split over), so jit sees at most 8 shapes and the block
  shards evenly wherever the batch does (the batch size is a multiple of `shards`)."""
  step = max(batch_size // TEXT_SLOT_BUCKETS, 1)
  step = -(-step // shards) * shards
  return min(-(-num_unique // step) * step, batch_size)


def gather(arrays: FeatureArrays, index: np.ndarray, weight: np.ndarray, share: BatchShare = WHOLE) -> Batch:
  """This process's `share` of the batch of rows `index` of `arrays` (`weight` [len(index)]: 0 on padding rows).

  Items repeat within a batch, and the text tower is by far the costliest part of a step, so each text group's
  distinct texts are in the batch once (`TextBlock.texts` [slots, ...], padded with repeats of the first) and each
  row finds its own by `TextBlock.slot` [batch]. With many processes each share has its own block, of the size of
  the largest share's (one shape on every process), and its slots count from its block's place in the global one
  (share i's block is rows [i * slots, (i + 1) * slots) of it).
  """
  mine = share.rows(len(index))
  rows = arrays.rows.take(index[mine])
  blocks = {}
  for group, text_index in arrays.rows.text_indices().items():
    batch_texts = text_index[index]
    unique, slot = np.unique(batch_texts[mine], return_inverse=True)
    widest = max([len(unique)] + [len(np.unique(batch_texts[other.rows(len(index))])) for other in share.shares()
                                  if other != share])
    slots = text_slot_count(widest, len(rows), share.devices)
    unique = np.concatenate([unique, np.full(slots - len(unique), unique[0])])
    blocks[group] = TextBlock(texts=getattr(arrays.texts, group).take(unique),
                              slot=(slot + share.index * slots).astype(np.int32))
  return Batch(label=rows.label, weight=weight[mine], user_id=rows.user_id, item_id=rows.item_id,
               history=rows.history, categorical=rows.categorical, numeric=rows.numeric, item_log_q=rows.item_log_q,
               **blocks)


@functools.lru_cache(maxsize=2)
def epoch_order(num_rows: int, seed: int, epoch: int) -> np.ndarray:
  """The order rows are visited in during training epoch `epoch`."""
  return np.random.default_rng([seed, epoch]).permutation(num_rows)


def steps_per_epoch(num_rows: int, batch_size: int, what: str = "rows") -> int:
  if num_rows < batch_size:
    raise UserError(f"the train split has {num_rows} {what}, fewer than one batch of {batch_size} "
                    "(train.batch_size)")
  return num_rows // batch_size


def train_batch(arrays: FeatureArrays, step: int, batch_size: int, seed: int, share: BatchShare = WHOLE) -> Batch:
  """The batch of global step `step` (this process's `share` of it): epochs are fresh permutations; each epoch's
  last partial batch is skipped."""
  per_epoch = steps_per_epoch(len(arrays), batch_size)
  epoch, offset = divmod(step, per_epoch)
  order = epoch_order(len(arrays), seed, epoch)
  return gather(arrays, order[offset * batch_size:(offset + 1) * batch_size], np.ones(batch_size, np.float32), share)


def eval_batch_size(num_rows: int, batch_size: int, multiple: int = 1) -> int:
  """The evaluation batch of a split: `batch_size` (eval.batch_size), or, for a split smaller than that, its rows
  rounded up to `multiple` (the devices a batch is split over) times a power of two: a split of 600 rows is not
  padded to 4096 (nor to an eval.batch_size of 10^8, which filled the memory), and similar splits share a shape."""
  if num_rows >= batch_size:
    return batch_size
  units = -(-max(num_rows, 1) // multiple)
  return min(batch_size, multiple * (1 << (units - 1).bit_length()))


def eval_indices(num_rows: int, batch_size: int, multiple: int = 1) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """(row index, weight) of each evaluation batch: every row once, in order; the last batch is padded with row 0
  at weight 0. Batches are `eval_batch_size` rows."""
  batch_size = eval_batch_size(num_rows, batch_size, multiple)
  for start in range(0, num_rows, batch_size):
    index = np.arange(start, min(start + batch_size, num_rows))
    real = len(index)
    index = np.concatenate([index, np.zeros(batch_size - real, dtype=index.dtype)])
    yield index, (np.arange(batch_size) < real).astype(np.float32)


def eval_batches(arrays: FeatureArrays, batch_size: int, share: BatchShare = WHOLE) -> Iterator[Batch]:
  """The batches of `eval_indices` (this process's `share` of each)."""
  for index, weight in eval_indices(len(arrays), batch_size, share.count * share.devices):
    yield gather(arrays, index, weight, share)
