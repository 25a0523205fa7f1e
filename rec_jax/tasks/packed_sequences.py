"""Next-item training on whole user sequences, packed into fixed-length rows (the `next_item` task's training rows
for a model with a sequence objective: SASRec's causal one, BERT4Rec's cloze).

Per-interaction training (one row per click, with its history) recomputes a user's prefix for every later click:
a user with n clicks costs n encoder passes and every earlier position's prediction is trained again each time.
Instead, as in the SASRec and BERT4Rec papers, each user's train clicks are one sequence, trained at every
position at once. A train row's history holds the user's last L = `features.history_length` earlier clicks, so
the sequence is cut into windows of at most L + 1 clicks ending at the last one (window = a row's history + its
item; the next window ends where this one's history starts, so consecutive windows share one item, the context of
the later window's first target): every click but a user's first is a target exactly once.

Windows are short (an Amazon category averages under 10 clicks per user against L = 50), so a batch of one window
per row would be mostly padding, for the encoder and for the softmax over the catalogue. They are packed best-fit
decreasing into rows of L + 1 positions (`PackedSequences`: a segment id and an in-sequence position per item);
attention stays within a segment, so packing changes no prediction, it only removes the padding. The packing is
a pure function of the train rows, and each epoch a fresh permutation of the packed rows (seed, epoch), so a batch
is a pure function of (seed, step) and a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from typing import List

import numpy as np

from rec_jax.batch import PAD, FeatureArrays, PackedSequences
from rec_jax.data.pipeline import WHOLE, BatchShare, epoch_order, steps_per_epoch
from rec_jax.errors import UserError


def sequence_windows(train: FeatureArrays) -> List[np.ndarray]:
  """The train clicks as windows of item ids (module docstring), users in order of first appearance, each user's
  windows oldest first. Rows of a split are chronological (data/formats/real_dataset.py, the synthetic shop)."""
  rows = train.rows.take(train.rows.label > 0)
  user = rows.user_key if rows.user_key is not None else rows.user_id
  order = np.argsort(user, kind="stable")
  starts = np.flatnonzero(np.r_[True, user[order][1:] != user[order][:-1]]) if len(order) else []
  ends = np.r_[starts[1:], len(order)] if len(order) else []
  windows = []
  for start, end in zip(starts, ends):
    mine, index, user_windows = order[start:end], end - start - 1, []
    while index >= 0:
      r = mine[index]
      history = rows.history[r][rows.history[r] != PAD]
      if len(history):
        user_windows.append(np.r_[history, rows.item_id[r]].astype(np.int32))
      index -= max(len(history), 1)
    windows.extend(reversed(user_windows))
  return windows


def pack(lengths: np.ndarray, capacity: int):
  """Best-fit decreasing bin packing: (row, offset) per sequence, and the number of rows. The longest sequences
  are placed first, each into the open row with the least room that still fits it."""
  if len(lengths) and lengths.max() > capacity:
    raise UserError(f"a sequence of {lengths.max()} items does not fit a packed row of {capacity} positions")
  row, offset = np.zeros(len(lengths), np.int64), np.zeros(len(lengths), np.int64)
  free = [[] for _ in range(capacity + 1)]   # free[s]: open rows with exactly s positions left
  used = []
  for i in np.argsort(-lengths, kind="stable"):
    n = int(lengths[i])
    room = next((s for s in range(n, capacity + 1) if free[s]), None)
    if room is None:
      r = len(used)
      used.append(0)
      room = capacity
    else:
      r = free[room].pop()
    row[i], offset[i] = r, used[r]
    used[r] += n
    if room - n > 0:
      free[room - n].append(r)
  return row, offset, len(used)


@dataclasses.dataclass
class PackedSequenceRows:
  """The packed training rows (module docstring); `batch(step, ...)` is what each training step feeds the model."""
  packed: PackedSequences   # [rows, capacity] each
  num_sequences: int
  num_targets: int          # positions with a next item to predict within their window

  @classmethod
  def from_train(cls, train: FeatureArrays, capacity: int) -> "PackedSequenceRows":
    windows = sequence_windows(train)
    if not windows:
      raise UserError("next_item training found no user with two or more train clicks: nothing to predict")
    lengths = np.array([len(w) for w in windows], np.int64)
    row, offset, num_rows = pack(lengths, capacity)
    items = np.full((num_rows, capacity), PAD, np.int32)
    segment = np.zeros((num_rows, capacity), np.int32)
    position = np.zeros((num_rows, capacity), np.int32)
    segments_in_row = np.zeros(num_rows, np.int32)
    for i in np.lexsort((offset, row)):   # Segments numbered left to right within each row.
      r, o, n = row[i], offset[i], lengths[i]
      segments_in_row[r] += 1
      items[r, o:o + n], segment[r, o:o + n], position[r, o:o + n] = windows[i], segments_in_row[r], np.arange(n)
    return cls(PackedSequences(items, segment, position), len(windows), int((lengths - 1).sum()))

  @property
  def fill(self) -> float:
    """Share of the packed positions holding an item."""
    return float(np.mean(self.packed.segment > 0))

  def __len__(self) -> int:
    return len(self.packed)

  def describe(self) -> dict:
    """What one epoch trains (logged, and in results.json's `training`)."""
    return {"unit": "sequence", "packed_rows": len(self), "row_length": int(self.packed.items.shape[1]),
            "sequences": self.num_sequences, "targets_per_epoch": self.num_targets, "fill": round(self.fill, 4)}

  def batch_sizes(self, batch_size: int):
    return [batch_size]

  def batch(self, step: int, batch_size: int, seed: int, share: BatchShare = WHOLE) -> PackedSequences:
    """This process's `share` (data/pipeline.py) of the `batch_size` packed rows of global step `step`: epochs are
    fresh permutations of the rows, each epoch's last partial batch skipped. Every row is whole, so any row split
    is a valid shard."""
    per_epoch = steps_per_epoch(len(self), batch_size, what="packed rows")
    epoch, offset = divmod(step, per_epoch)
    index = epoch_order(len(self), seed, epoch)[offset * batch_size:(offset + 1) * batch_size]
    index = index[share.rows(batch_size)]
    p = self.packed
    return PackedSequences(p.items[index], p.segment[index], p.position[index])
