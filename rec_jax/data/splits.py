"""Splitting an interaction log into train / validation / test, the ways the literature does (`data.split.kind`):

- `random`: rows shuffled with `data.split.seed`, cut by `ratios` (CTR benchmarks such as FuxiCTR's);
- `temporal`: per user, the earliest `ratios[0]` of the user's rows train, then validation, then test (RecBole's
  "TO" ordering with `group_by: user`; counts per user as RecBole: `int(ratio * n)` for validation and test, the
  rest train);
- `global_temporal`: one time cut over all rows (the synthetic shop's split: the last days are the test);
- `leave_one_out`: per user, the last row is test, the second-last validation, the rest train; users with fewer
  than 3 rows are train only (SASRec's and RecBole's "LS" protocol);
- `predefined`: the format's own split files (ml-100k's folds `u1..u5`, RecBole's `.train/.valid/.test.inter`),
  applied in rec_jax/data/formats/real_dataset.py.
Then, with `cold_item_fraction` > 0 (after any kind, `predefined` too), that share of the items is held out
entirely: every row of a held-out item moves to validation (half of those items) or test (the other half), so
those items are new at evaluation time.

"Chronological" is by `timestamp`, ties broken by `order` (the row's position in the files).
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from rec_jax.errors import UserError
from rec_jax.registry import Registry

SPLIT_NAMES = ("train", "validation", "test")
SPLITS: Registry = Registry("split kind")


def chronological(user: np.ndarray, timestamp: np.ndarray, order: np.ndarray):
  """(row order sorted by user then time, start index of each user's run in that order)."""
  idx = np.lexsort((order, timestamp, user))
  u = user[idx]
  starts = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1] if len(u) else np.zeros(0, np.int64)
  return idx, starts


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
  r = np.asarray(ratios, dtype=np.float64)
  if r.shape != (3,) or (r < 0).any() or not np.isclose(r.sum(), 1.0):
    raise UserError(f"data.split.ratios={tuple(ratios)} must be three non-negative shares (train, validation, "
                    "test) summing to 1")
  return r


def _cut(n: int, ratios: np.ndarray) -> np.ndarray:
  """Labels 0/1/2 for n ordered rows: int(ratio * n) validation and test rows at the end, the rest train."""
  n_valid, n_test = int(ratios[1] * n), int(ratios[2] * n)
  labels = np.zeros(n, np.int8)
  labels[n - n_valid - n_test:n - n_test] = 1
  labels[n - n_test:] = 2
  return labels


def _random_labels(n: int, cfg) -> np.ndarray:
  order = np.random.default_rng([cfg.get("seed", 0), 11]).permutation(n)
  labels = np.empty(n, np.int8)
  labels[order] = _cut(n, _check_ratios(cfg.ratios))
  return labels


@SPLITS.register("random")
def random_split(log, cfg) -> np.ndarray:
  return _random_labels(len(log["user_id"]), cfg)


# The kinds `labels_in_stored_order` can assign without the rows' columns.
STORED_ORDER_KINDS = ("random", "global_temporal")


def labels_in_stored_order(n: int, cfg) -> np.ndarray:
  """What `assign_splits` gives `n` rows that are stored in time order (data/streaming/prepare.py checks that they
  are), without reading them: `random` needs only their number, `global_temporal` cuts them where they stand."""
  if cfg.kind not in STORED_ORDER_KINDS or cfg.get("cold_item_fraction", 0.0):
    raise UserError(f"data.split.kind={cfg.kind!r} (cold_item_fraction={cfg.get('cold_item_fraction', 0.0)}) needs "
                    f"every row's columns at once; with data.streaming use kind {' or '.join(STORED_ORDER_KINDS)} "
                    "without cold_item_fraction, or set data.streaming=False")
  return _random_labels(n, cfg) if cfg.kind == "random" else _cut(n, _check_ratios(cfg.ratios))


@SPLITS.register("global_temporal")
def global_temporal_split(log, cfg) -> np.ndarray:
  n = len(log["user_id"])
  order = np.lexsort((log["order"], log["timestamp"]))
  labels = np.empty(n, np.int8)
  labels[order] = _cut(n, _check_ratios(cfg.ratios))
  return labels


@SPLITS.register("temporal")
def temporal_split(log, cfg) -> np.ndarray:
  ratios = _check_ratios(cfg.ratios)
  idx, starts = chronological(log["user_id"], log["timestamp"], log["order"])
  labels = np.empty(len(idx), np.int8)
  for start, end in zip(starts, np.r_[starts[1:], len(idx)]):
    labels[idx[start:end]] = _cut(end - start, ratios)
  return labels


@SPLITS.register("leave_one_out")
def leave_one_out_split(log, cfg) -> np.ndarray:
  del cfg
  idx, starts = chronological(log["user_id"], log["timestamp"], log["order"])
  labels = np.zeros(len(idx), np.int8)
  ends = np.r_[starts[1:], len(idx)]
  enough = (ends - starts) >= 3
  labels[idx[ends[enough] - 1]] = 2
  labels[idx[ends[enough] - 2]] = 1
  return labels


def hold_out_items(items: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
  """Moves every row of `fraction` of the distinct items (drawn with `seed`) to validation (the first half of
  them) or test (the second half): those items have no training rows at all."""
  if not 0 <= fraction < 1:
    raise UserError(f"data.split.cold_item_fraction={fraction} must be in [0, 1)")
  distinct = np.unique(items.astype(str))
  held = np.random.default_rng([seed, 13]).permutation(len(distinct))[:int(round(fraction * len(distinct)))]
  to_valid, to_test = held[:len(held) // 2], held[len(held) // 2:]
  labels = labels.copy()
  position = np.searchsorted(distinct, items.astype(str))
  labels[np.isin(position, to_valid)] = 1
  labels[np.isin(position, to_test)] = 2
  return labels


def assign_splits(log: Dict[str, np.ndarray], cfg) -> np.ndarray:
  """Split label per row (0 train, 1 validation, 2 test) by `cfg.kind`, then the cold-item hold-out."""
  labels = SPLITS.get(cfg.kind)(log, cfg)
  if cfg.get("cold_item_fraction", 0.0):
    labels = hold_out_items(log["item_id"], labels, cfg.cold_item_fraction, cfg.get("seed", 0))
  return labels
