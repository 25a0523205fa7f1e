"""Tests of full-ranking ranks (ties, exclusion) and of hit@k, ndcg@k, mrr@k against hand-computed values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rec_jax.evaluation.ranking import ranking_metrics, target_ranks


def test_ranks_hand_computed_pessimistic_ties():
  scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.5]] * 4, np.float32)
  # Target 2: 0.9 is higher and both other 0.5s tie, which count ahead of it whatever their index.
  ranks = target_ranks(scores, np.array([2, 0, 4, 1]))
  np.testing.assert_array_equal(np.asarray(ranks), [3, 3, 3, 0])
  # A model that scores everything the same ranks every target last.
  np.testing.assert_array_equal(np.asarray(target_ranks(np.zeros((2, 5)), np.array([0, 4]))), [4, 4])


def test_ranks_with_exclusion_and_target_excluded_by_mistake():
  scores = np.array([[0.5, 0.9, 0.5, 0.1, 0.5]] * 3, np.float32)
  exclude = np.zeros((3, 5), bool)
  exclude[0, 1] = True                 # the 0.9 is in the history: target 2 moves up by one
  exclude[1, [0, 3]] = True            # excluding a tie and a lower score
  exclude[2, [1, 2]] = True            # the target itself is listed: it is still ranked, 0.9 is not
  ranks = np.asarray(target_ranks(scores, np.array([2, 2, 2]), exclude))
  np.testing.assert_array_equal(ranks, [2, 2, 2])
  assert np.asarray(target_ranks(scores[:1], np.array([2]), np.zeros((1, 5), bool)))[0] == 3


@pytest.mark.parametrize("seed", [0, 1])
def test_ranks_match_sorting(seed):
  rng = np.random.default_rng(seed)
  n, m = 20, 30
  scores = rng.integers(0, 5, size=(n, m)).astype(np.float32)     # many ties
  target = rng.integers(0, m, size=n)
  exclude = rng.random((n, m)) < 0.3
  ranks = np.asarray(target_ranks(scores, target, exclude))
  for i in range(n):
    keep = [j for j in range(m) if not exclude[i, j] or j == target[i]]
    # Pessimistic ties: the target after every candidate with its score.
    order = sorted(keep, key=lambda j: (-scores[i, j], j == target[i]))
    assert ranks[i] == order.index(target[i])


def test_ranks_jax_inputs_inside_jit_and_nan():
  scores = jnp.array([[1.0, jnp.nan, 3.0], [jnp.nan, 2.0, 1.0]])
  # A NaN candidate ranks last; a NaN target ranks after every real score.
  ranks = jax.jit(lambda s, t: target_ranks(s, t) + 0)(scores, jnp.array([0, 0]))
  np.testing.assert_array_equal(np.asarray(ranks), [1, 2])
  assert ranks.dtype == jnp.int32
  with pytest.raises(ValueError, match="exclude"):
    target_ranks(scores, jnp.array([0, 0]), np.zeros((2, 2), bool))


def test_metrics_hand_computed():
  ranks = np.array([0, 2, 15])
  got = ranking_metrics(ranks, [1, 10, 20])
  assert set(got) == {f"{name}@{k}" for name in ("hit", "ndcg", "mrr") for k in (1, 10, 20)}
  assert got["hit@10"] == pytest.approx(2 / 3)
  assert got["ndcg@10"] == pytest.approx((1 + 1 / 2) / 3)        # 1/log2(2) + 1/log2(4)
  assert got["mrr@10"] == pytest.approx((1 + 1 / 3) / 3)
  assert got["hit@1"] == got["ndcg@1"] == got["mrr@1"] == pytest.approx(1 / 3)
  assert got["hit@20"] == 1.0
  assert got["ndcg@20"] == pytest.approx((1 + 1 / 2 + 1 / np.log2(17)) / 3)
  assert got["mrr@20"] == pytest.approx((1 + 1 / 3 + 1 / 16) / 3)


def test_metrics_mask_slice_and_empty_selection():
  ranks = np.array([0, 2, 15])
  got = ranking_metrics(ranks, [10], mask=np.array([False, True, True]))
  assert got == pytest.approx({"hit@10": 0.5, "ndcg@10": 0.25, "mrr@10": 1 / 6})
  empty = ranking_metrics(ranks, [10], mask=np.zeros(3, bool))
  assert set(empty) == {"hit@10", "ndcg@10", "mrr@10"} and all(np.isnan(v) for v in empty.values())
  assert all(np.isnan(v) for v in ranking_metrics(np.zeros(0, int), [5]).values())
  # Device ranks feed straight in.
  assert ranking_metrics(target_ranks(np.eye(3), np.array([0, 1, 2])), [1])["hit@1"] == 1.0
