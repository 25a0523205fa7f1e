"""Sets of catalogue items per key (a user's seen items, a query's relevant items) as compressed sparse rows."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ItemSets(NamedTuple):
  """Row r's items are indices[indptr[r]:indptr[r + 1]] (sorted, distinct)."""
  indptr: np.ndarray
  indices: np.ndarray

  @classmethod
  def from_pairs(cls, rows: np.ndarray, items: np.ndarray, num_rows: int) -> "ItemSets":
    pairs = np.unique(np.stack([np.asarray(rows, np.int64), np.asarray(items, np.int64)], axis=1), axis=0) \
        if len(rows) else np.zeros((0, 2), np.int64)
    counts = np.bincount(pairs[:, 0], minlength=num_rows) if len(pairs) else np.zeros(num_rows, np.int64)
    return cls(np.r_[0, np.cumsum(counts)].astype(np.int64), pairs[:, 1].astype(np.int32))

  @property
  def num_rows(self) -> int:
    return len(self.indptr) - 1

  def items(self, row: int) -> np.ndarray:
    return self.indices[self.indptr[row]:self.indptr[row + 1]]

  def sizes(self) -> np.ndarray:
    return np.diff(self.indptr)

  def dense(self, rows: np.ndarray, num_items: int) -> np.ndarray:
    """[len(rows), num_items] bool: the items of each of `rows`."""
    rows = np.asarray(rows, np.int64)
    starts, ends = self.indptr[rows], self.indptr[rows + 1]
    lengths = ends - starts
    out = np.zeros((len(rows), num_items), bool)
    which = np.repeat(np.arange(len(rows)), lengths)
    # Position of each listed item in `indices`: its row's start plus its rank within the row.
    position = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(int(lengths.sum()))
    out[which, self.indices[position]] = True
    return out

  def padded(self, rows: np.ndarray, width: int) -> np.ndarray:
    """[len(rows), width] int32: the items of each of `rows`, -1 after them (width >= their largest size)."""
    rows = np.asarray(rows, np.int64)
    starts, lengths = self.indptr[rows], np.diff(self.indptr)[rows]
    out = np.full((len(rows), width), -1, np.int32)
    which = np.repeat(np.arange(len(rows)), lengths)
    rank = np.arange(int(lengths.sum())) - np.repeat(np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    out[which, rank] = self.indices[np.repeat(starts, lengths) + rank]
    return out

  def to_json(self) -> dict:
    return {"indptr": self.indptr.tolist(), "indices": self.indices.tolist()}
