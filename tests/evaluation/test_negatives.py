"""Sampled-ranking negatives: never an interacted item or the target, distinct, fixed by their seed alone, saved
and reused; the sampled protocol ranks each target against exactly its saved negatives."""

from __future__ import annotations

import numpy as np
import pytest

from rec_jax.batch import FeatureArrays
from rec_jax.data.item_sets import ItemSets
from rec_jax.evaluation.full_ranking import RankingOptions, evaluate_ranking
from rec_jax.evaluation.negatives import sample_negatives, saved_negatives
from rec_jax.evaluation.ranking_queries import ranking_queries
from tests.batches import make_rows

NUM_ITEMS = 30


def _interacted():
  users = np.repeat(np.arange(4), 8)
  items = np.concatenate([np.arange(8), np.arange(5, 13), np.arange(0, 30, 4), np.arange(22, 30)])
  return ItemSets.from_pairs(users, items, 4)


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_negatives_avoid_interacted_items_and_the_target(sampler):
  interacted = _interacted()
  users, targets = np.array([0, 1, 2, 3, 0]), np.array([3, 9, 8, 25, 20])
  popularity = np.where(np.arange(NUM_ITEMS) % 3 == 0, 0, np.arange(NUM_ITEMS) + 1)
  neg = sample_negatives(users, targets, interacted, NUM_ITEMS, 10, sampler, popularity, [0, 0])
  assert neg.shape == (5, 10)
  for row, u, t in zip(neg, users, targets):
    assert len(set(row)) == 10 and t not in row and not set(row) & set(interacted.items(u))
    if sampler == "popularity":
      assert (popularity[row] > 0).all()
  again = sample_negatives(users, targets, interacted, NUM_ITEMS, 10, sampler, popularity, [0, 0])
  np.testing.assert_array_equal(neg, again)
  other = sample_negatives(users, targets, interacted, NUM_ITEMS, 10, sampler, popularity, [1, 0])
  assert not np.array_equal(neg, other)


def test_a_user_who_saw_almost_everything_gets_fewer_negatives():
  interacted = ItemSets.from_pairs(np.zeros(26, int), np.arange(26), 1)
  neg = sample_negatives(np.array([0]), np.array([27]), interacted, NUM_ITEMS, 10, "uniform", None, [0])
  assert sorted(neg[0][neg[0] >= 0]) == [26, 28, 29] and (neg[0][3:] == -1).all()


def test_saved_negatives_are_reused_and_checked(tmp_path):
  path = str(tmp_path / "eval_negatives" / "test.npz")
  users, targets = np.array([0, 1]), np.array([3, 9])
  calls = []
  draw = lambda: calls.append(1) or np.array([[1, 2], [3, 4]], np.int32)  # noqa: E731
  first = saved_negatives(path, users, targets, {"num_negatives": 2}, draw)
  second = saved_negatives(path, users, targets, {"num_negatives": 2}, draw)
  np.testing.assert_array_equal(first, second)
  assert calls == [1]
  with pytest.raises(ValueError, match="other queries or settings"):
    saved_negatives(path, users, np.array([3, 8]), {"num_negatives": 2}, draw)


def _catalogue():
  vec = np.arange(6, dtype=np.float32)[:, None]   # item c scores v * c (a numeric feature `fn` reads)
  return FeatureArrays(make_rows(numeric={"vec": vec}, item_id=np.arange(2, 8), label=np.zeros(6, np.float32),
                                 item_is_cold=np.array([False] * 5 + [True])))


def test_sampled_protocol_ranks_against_the_saved_negatives():
  rows = make_rows(numeric={"vec": np.array([[1.0], [1.0], [-1.0]], np.float32)}, item_key=np.array([2, 5, 0]),
                   label=np.ones(3, np.float32), user_key=np.array([0, 1, 2]), history=np.zeros((3, 1), int),
                   item_is_cold=np.array([False, True, False]))
  arrays = FeatureArrays(rows, negatives=np.array([[1, 3, 4], [0, 1, -1], [1, 2, 3]], np.int32))
  fn = lambda batch: batch.numeric["vec"]  # noqa: E731
  m = evaluate_ranking(fn, fn, arrays, _catalogue(), 2, (1, 2), RankingOptions(candidates="sampled"))
  # Row 0: target 2 behind 3 and 4 -> rank 2. Row 1: target 5 beats 0 and 1 (the -1 is no candidate) -> 0.
  # Row 2: v = -1, target 0 scores highest -> 0.
  assert m["hit@1"] == pytest.approx(2 / 3) and m["hit@2"] == pytest.approx(2 / 3)
  assert m["hit@1/cold"] == 1.0 and m["num_queries/warm"] == 2 and m["num_candidates"] == 4


def test_user_unit_ranks_all_relevant_items_and_excludes_seen_ones():
  # User 0 clicked items 5 and 3 in this split and had item 4 in training; user 1 clicked item 1.
  rows = make_rows(numeric={"vec": np.array([[1.0], [1.0], [1.0]], np.float32)}, item_key=np.array([5, 3, 1]),
                   label=np.ones(3, np.float32), user_key=np.array([0, 0, 1]), history=np.zeros((3, 1), int),
                   item_is_cold=np.array([True, False, False]))
  seen = ItemSets.from_pairs(np.array([0]), np.array([4]), 2)
  arrays = FeatureArrays(rows, seen=seen)
  queries = ranking_queries(rows, "user")
  np.testing.assert_array_equal(queries.rows, [0, 2])
  fn = lambda batch: batch.numeric["vec"]  # noqa: E731
  m = evaluate_ranking(fn, fn, arrays, _catalogue(), 4, (1, 2), RankingOptions(unit="user", exclude="seen"))
  # User 0's ranking without item 4: 5, 3, 2, ... -> both relevant in the top 2. User 1: 5, 4, 3, 2, 1 -> rank 4.
  assert m["num_queries"] == 2 and m["recall@2"] == pytest.approx(0.5) and m["hit@1"] == pytest.approx(0.5)
  # Cold slice: user 0's cold item 5 only (item 3 removed from the ranking): rank 0.
  assert m["num_queries/cold"] == 1 and m["recall@1/cold"] == 1.0
  # Warm slice: user 0's item 3 (5 removed, 4 excluded) is first; user 1's item 1 is behind 4, 3, 2.
  assert m["recall@1/warm"] == pytest.approx(0.5)
