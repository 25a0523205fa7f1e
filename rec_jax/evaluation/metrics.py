"""Metrics as pure numpy functions, with the definitions the recsys literature reports."""

from __future__ import annotations

import numpy as np


def _average_ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of x with ties given their average rank."""
  order = np.argsort(x, kind="mergesort")
  sorted_x = x[order]
  # Start index of each run of equal values, and each run's average rank.
  starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
  ends = np.r_[starts[1:], len(x)]
  avg = (starts + ends + 1) / 2.0
  ranks = np.empty(len(x))
  ranks[order] = np.repeat(avg, ends - starts)
  return ranks


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """ROC AUC by the Mann-Whitney statistic (ties count one half); NaN when only one class is present."""
  labels = np.asarray(labels).astype(bool)
  n_pos = labels.sum()
  n_neg = len(labels) - n_pos
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
  return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gauc(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
  """Group AUC (Zhou et al. 2018, DIN): the AUC within each group (user), averaged with weights = the group's
  rows, over the groups that have both classes; NaN when none has."""
  groups, labels, scores = np.asarray(groups), np.asarray(labels).astype(bool), np.asarray(scores, np.float64)
  order = np.argsort(groups, kind="mergesort")
  g = groups[order]
  starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1] if len(g) else np.zeros(0, int)
  total, weight = 0.0, 0
  for start, end in zip(starts, np.r_[starts[1:], len(g)]):
    rows = order[start:end]
    y = labels[rows]
    if y.all() or not y.any():
      continue
    total += auc(y, scores[rows]) * len(rows)
    weight += len(rows)
  return total / weight if weight else float("nan")


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
  p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
  y = np.asarray(labels, dtype=np.float64)
  return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def ndcg_at_k(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int) -> float:
  """Mean over groups (users) with at least one positive of NDCG@k of the group's rows ranked by score.

  Ties in score are broken by row order, the same for every model.
  """
  groups = np.asarray(groups)
  order = np.lexsort((np.arange(len(groups)), -np.asarray(scores, dtype=np.float64), groups))
  g, y = groups[order], np.asarray(labels, dtype=np.float64)[order]
  starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
  position = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
  gain = np.where(position < k, y / np.log2(position + 2), 0.0)
  dcg = np.add.reduceat(gain, starts)
  # Ideal DCG: the group's positives at the top.
  n_pos = np.add.reduceat(y, starts)
  discounts = np.cumsum(1.0 / np.log2(np.arange(k) + 2))
  idcg = np.where(n_pos > 0, discounts[np.minimum(n_pos, k).astype(int) - 1], 0.0)
  has_pos = n_pos > 0
  return float(np.mean(dcg[has_pos] / idcg[has_pos])) if has_pos.any() else float("nan")


def rmse(targets: np.ndarray, predictions: np.ndarray) -> float:
  err = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
  return float(np.sqrt(np.mean(np.square(err))))


def mae(targets: np.ndarray, predictions: np.ndarray) -> float:
  return float(np.mean(np.abs(np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64))))
