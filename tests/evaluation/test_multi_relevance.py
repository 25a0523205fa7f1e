"""Ranking with several relevant items per query (RecBole's full ranking: hit, recall, ndcg, mrr @K), checked by
hand and against brute force; gAUC by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rec_jax.evaluation import metrics
from rec_jax.evaluation.ranking import (multi_relevance_metrics, positions_to_flags, ranking_metrics, relevant_positions,
                                       target_ranks)


def top_k_relevance(scores, relevant, exclude, k):
  """[n, k] flags of the top k positions, through relevant_positions with relevant keys padded by -1."""
  width = max(int(relevant.sum(axis=1).max()), 1) + 1   # one extra column of padding
  keys = np.full((len(relevant), width), -1, np.int32)
  for r, row in enumerate(relevant):
    keys[r, :row.sum()] = np.flatnonzero(row)
  positions = np.asarray(relevant_positions(scores, keys, exclude))
  assert (positions[keys < 0] == scores.shape[1]).all()
  return positions_to_flags(positions, k)


def _brute_flags(scores, relevant, exclude, k):
  """Sort each row by (excluded, -score, relevant, index) in plain Python."""
  out = []
  for s, rel, ex in zip(scores, relevant, exclude):
    s = np.where(np.isnan(s), -np.inf, s)
    keys = sorted(range(len(s)), key=lambda j: (bool(ex[j] and not rel[j]), -s[j], bool(rel[j]), j))
    out.append([bool(rel[j]) for j in keys[:k]])
  return np.array(out)


def test_top_k_relevance_hand_computed():
  scores = np.array([[0.9, 0.5, 0.5, 0.8, 0.1]], np.float32)
  relevant = np.array([[False, True, False, True, False]])
  exclude = np.array([[True, False, False, False, False]])   # item 0 (0.9) is a training item
  flags = np.asarray(top_k_relevance(scores, relevant, exclude, 3))
  # Ranking without item 0: 3 (0.8, relevant), then the tie 1/2 at 0.5 with the irrelevant 2 first (pessimistic).
  np.testing.assert_array_equal(flags, [[True, False, True]])
  m = multi_relevance_metrics(flags, np.array([2]), (1, 3))
  assert m["hit@1"] == 1 and m["recall@1"] == 0.5 and m["recall@3"] == 1.0 and m["mrr@3"] == 1.0
  idcg = 1 + 1 / np.log2(3)
  assert m["ndcg@3"] == pytest.approx((1 + 1 / np.log2(4)) / idcg)
  assert m["ndcg@1"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_k_relevance_matches_brute_force(seed):
  rng = np.random.default_rng(seed)
  scores = np.round(rng.random((6, 15)), 1).astype(np.float32)   # many ties
  scores[0, 3] = np.nan
  relevant = rng.random((6, 15)) < 0.25
  exclude = rng.random((6, 15)) < 0.3
  np.testing.assert_array_equal(np.asarray(top_k_relevance(scores, relevant, exclude, 5)),
                                _brute_flags(scores, relevant, exclude, 5))


def test_one_relevant_item_equals_target_ranks():
  rng = np.random.default_rng(3)
  scores = np.round(rng.random((20, 12)), 1).astype(np.float32)
  target = rng.integers(0, 12, 20)
  exclude = rng.random((20, 12)) < 0.2
  relevant = np.zeros((20, 12), bool)
  relevant[np.arange(20), target] = True
  ranks = np.asarray(target_ranks(scores, target, exclude))
  flags = np.asarray(top_k_relevance(scores, relevant, exclude, 5))
  multi = multi_relevance_metrics(flags, np.ones(20), (1, 5))
  single = ranking_metrics(ranks, (1, 5))
  for key, value in single.items():
    assert multi[key] == pytest.approx(value)
  assert multi["recall@5"] == pytest.approx(single["hit@5"])


def test_gauc_weights_users_by_rows_and_skips_one_class_users():
  groups = np.array([0, 0, 0, 1, 1, 2, 2])
  labels = np.array([1, 0, 0, 1, 0, 1, 1])
  scores = np.array([0.9, 0.5, 0.95, 0.2, 0.8, 0.3, 0.4])
  # User 0: positive beats one of two negatives -> 0.5 (3 rows); user 1: 0.0 (2 rows); user 2 has no negative.
  assert metrics.gauc(groups, labels, scores) == pytest.approx((0.5 * 3 + 0.0 * 2) / 5)
  assert np.isnan(metrics.gauc(np.array([0, 1]), np.array([1, 0]), np.array([0.1, 0.2])))
