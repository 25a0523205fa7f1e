"""Splits of an interaction log: sizes, no leakage under temporal and leave-one-out splits, the cold-item
hold-out, and the histories that each split may see."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from rec_jax.data.histories import prior_histories
from rec_jax.data.splits import assign_splits, chronological


def _log(num_users=20, seed=0):
  """Users with 1..12 interactions at random times (ties included), rows in a shuffled file order."""
  rng = np.random.default_rng(seed)
  user, item, ts = [], [], []
  for u in range(num_users):
    n = 1 + u % 12
    user += [f"u{u}"] * n
    item += [f"i{x}" for x in rng.integers(0, 30, n)]
    ts += rng.integers(0, 8, n).tolist()   # few distinct times: many ties, broken by `order`
  perm = rng.permutation(len(user))
  return {"user_id": np.array(user, object)[perm], "item_id": np.array(item, object)[perm],
          "timestamp": np.array(ts, np.int64)[perm], "order": np.arange(len(user), dtype=np.int64)}


def _cfg(kind, **kw):
  return ml_collections.ConfigDict({**dict(kind=kind, ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0), **kw})


def _by_user(log, labels):
  idx, starts = chronological(log["user_id"], log["timestamp"], log["order"])
  for start, end in zip(starts, np.r_[starts[1:], len(idx)]):
    yield idx[start:end], labels[idx[start:end]]


def test_random_split_sizes_and_seed():
  log = _log()
  labels = assign_splits(log, _cfg("random"))
  n = len(labels)
  assert (labels == 1).sum() == int(0.1 * n) and (labels == 2).sum() == int(0.1 * n)
  np.testing.assert_array_equal(labels, assign_splits(log, _cfg("random")))
  assert not np.array_equal(labels, assign_splits(log, _cfg("random", seed=1)))


@pytest.mark.parametrize("kind", ["temporal", "leave_one_out"])
def test_no_leakage_every_test_row_is_later_than_the_users_training_rows(kind):
  log = _log()
  labels = assign_splits(log, _cfg(kind))
  for rows, lab in _by_user(log, labels):
    # Chronological order (timestamp, then file order): train rows, then validation, then test.
    assert (np.diff(lab) >= 0).all(), lab
    key = list(zip(log["timestamp"][rows], log["order"][rows]))
    for later in np.flatnonzero(lab > 0):
      assert all(key[t] < key[later] for t in np.flatnonzero(lab == 0))


def test_leave_one_out_last_is_test_second_last_validation():
  log = _log()
  labels = assign_splits(log, _cfg("leave_one_out"))
  for rows, lab in _by_user(log, labels):
    if len(rows) < 3:
      assert (lab == 0).all()
    else:
      assert lab[-1] == 2 and lab[-2] == 1 and (lab[:-2] == 0).all()


def test_temporal_counts_per_user_as_recbole():
  log = _log()
  labels = assign_splits(log, _cfg("temporal", ratios=(0.6, 0.2, 0.2)))
  for rows, lab in _by_user(log, labels):
    n = len(rows)
    assert (lab == 2).sum() == int(0.2 * n) and (lab == 1).sum() == int(0.2 * n)


def test_global_temporal_is_one_time_cut():
  log = _log()
  labels = assign_splits(log, _cfg("global_temporal"))
  key = log["timestamp"] * 10_000 + log["order"]
  assert key[labels == 0].max() < key[labels == 1].min() and key[labels == 1].max() < key[labels == 2].min()


def test_cold_item_hold_out_leaves_no_training_row():
  log = _log(num_users=60)
  labels = assign_splits(log, _cfg("random", cold_item_fraction=0.2))
  items = np.unique(log["item_id"])
  train_items = set(log["item_id"][labels == 0])
  held = [i for i in items if i not in train_items]
  assert len(held) == round(0.2 * len(items))
  for i in held:   # held-out items' rows are all in validation or all in test
    assert len(set(labels[log["item_id"] == i])) == 1
  with pytest.raises(ValueError, match="cold_item_fraction"):
    assign_splits(log, _cfg("random", cold_item_fraction=1.0))


def test_bad_split_config_is_named():
  with pytest.raises(ValueError, match="ratios"):
    assign_splits(_log(), _cfg("random", ratios=(0.8, 0.3, 0.1)))
  with pytest.raises(KeyError, match="leave_one_out"):
    assign_splits(_log(), _cfg("leave_one_ot"))


def test_histories_see_only_earlier_positives_of_visible_splits():
  user = np.array(["a"] * 6 + ["b"] * 2, object)
  item = np.array(["i1", "i2", "i3", "i4", "i5", "i6", "j1", "j2"], object)
  ts = np.array([1, 2, 2, 3, 4, 5, 1, 2])
  order = np.array([0, 2, 1, 3, 4, 5, 6, 7])          # equal times: file order decides (i3 before i2)
  positive = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)  # i4 is not a positive: never in a history
  split = np.array([0, 0, 0, 0, 2, 1, 0, 0])          # i6 (validation) is later than i5 (test)
  h = prior_histories(user, item, ts, order, positive, split, length=10)
  assert h[0] == [] and h[2] == ["i1"] and h[1] == ["i1", "i3"] and h[3] == ["i1", "i3", "i2"]
  assert h[4] == ["i1", "i3", "i2"]          # the test row: train positives before it (i4 is negative)
  assert h[5] == ["i1", "i3", "i2"]          # validation row after the test row: the test item is not visible
  assert h[7] == ["j1"]
  short = prior_histories(user, item, ts, order, positive, split, length=2)
  assert short[4] == ["i3", "i2"]


def test_random_split_histories_never_leak_evaluation_items_into_training():
  log = _log(num_users=40)
  labels = assign_splits(log, _cfg("random"))
  h = prior_histories(log["user_id"], log["item_id"], log["timestamp"], log["order"],
                      np.ones(len(labels), bool), labels, 50)
  for rows, lab in _by_user(log, labels):
    train_items = {log["item_id"][r] for r in rows[lab == 0]}
    for r in rows[lab == 0]:
      assert set(h[r]) <= train_items
