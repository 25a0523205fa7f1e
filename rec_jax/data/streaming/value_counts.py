"""Exact counts of the distinct values of a column seen block by block (`ValueCounts`), for fitting vocabularies and
governance's train medians without holding the column: blocks are buffered and folded into the running (sorted
values, counts) with one sort per `flush_values`, so a 36M-row column of 10M distinct values costs a few sorts."""

from __future__ import annotations

from typing import List, Tuple

import numpy as np


class ValueCounts:
  """Distinct values (any sortable dtype: integers, floats, strings as objects) and how often each was added."""

  def __init__(self, flush_values: int = 4_000_000):
    self.flush_values = flush_values
    self._values = None
    self._counts = np.zeros(0, np.int64)
    self._pending: List[np.ndarray] = []
    self._pending_size = 0

  def add(self, values: np.ndarray) -> None:
    values = np.asarray(values).reshape(-1)
    if not len(values):
      return
    self._pending.append(values)
    self._pending_size += len(values)
    if self._pending_size >= self.flush_values:
      self._flush()

  def _flush(self) -> None:
    if not self._pending:
      return
    new, new_counts = np.unique(np.concatenate(self._pending), return_counts=True)
    self._pending, self._pending_size = [], 0
    if self._values is None:
      self._values, self._counts = new, new_counts.astype(np.int64)
      return
    values = np.concatenate([self._values, new])
    counts = np.concatenate([self._counts, new_counts])
    distinct, inverse = np.unique(values, return_inverse=True)
    self._values, self._counts = distinct, np.bincount(inverse.reshape(-1), weights=counts,
                                                       minlength=len(distinct)).astype(np.int64)

  def result(self) -> Tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, their counts)."""
    self._flush()
    if self._values is None:
      return np.zeros(0), np.zeros(0, np.int64)
    return self._values, self._counts

  def total(self) -> int:
    return int(self.result()[1].sum())

  def median(self) -> float:
    """np.median of every value added (the mean of the two middle ones for an even count); NaN when none."""
    values, counts = self.result()
    n = int(counts.sum())
    if not n:
      return float("nan")
    ends = np.cumsum(counts)
    low = values[np.searchsorted(ends, (n - 1) // 2, side="right")]
    high = values[np.searchsorted(ends, n // 2, side="right")]
    return float((np.float64(low) + np.float64(high)) / 2)
