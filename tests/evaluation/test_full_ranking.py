"""Full-catalogue ranking evaluation: history exclusion and hit/ndcg/mrr from given query and candidate vectors."""

from __future__ import annotations

import numpy as np
import pytest

from rec_jax.batch import FeatureArrays
from rec_jax.evaluation.full_ranking import RankingOptions, evaluate_ranking, history_exclusions
from tests.batches import make_rows


def test_history_exclusions_skip_pad_and_oov():
  catalogue_ids = np.array([2, 3, 1, 4, 1])   # two new items share OOV (1)
  history = np.array([[3, 0, 0], [1, 4, 2], [0, 0, 0]])
  np.testing.assert_array_equal(history_exclusions(history, catalogue_ids),
                                [[0, 1, 0, 0, 0], [1, 0, 0, 1, 0], [0, 0, 0, 0, 0]])


def test_evaluate_ranking_by_hand():
  # Catalogue of 4 items on a line; a query vector v scores item c as v * c.
  # Each row's vector rides along as a numeric feature, which `fn` reads.
  catalogue = FeatureArrays(make_rows(numeric={"vec": np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)},
                                      item_id=np.array([2, 3, 4, 1]), label=np.zeros(4, np.float32),
                                      item_is_cold=np.array([False, False, False, True])))
  rows = make_rows(numeric={"vec": np.array([[1.0], [1.0], [-1.0], [1.0]], np.float32)},
                   item_key=np.array([3, 1, 0, 2]), label=np.array([1, 1, 1, 0], np.float32),
                   item_is_cold=np.array([True, False, False, False]), history=np.array([[0], [4], [0], [0]]))
  fn = lambda batch: batch.numeric["vec"]  # noqa: E731
  m = evaluate_ranking(fn, fn, FeatureArrays(rows), catalogue, batch_size=2, ks=(1, 2))
  # Row 0: item 3 scores highest -> rank 0. Row 1: item 1 (score 2) behind 4 and 3, but 4's id is in the history
  # -> rank 1. Row 2: v=-1, item 0 scores highest -> rank 0. Row 3 is not a click: no query.
  assert m["num_queries"] == 3 and m["num_candidates"] == 4
  assert m["hit@1"] == pytest.approx(2 / 3) and m["hit@2"] == 1.0
  assert m["ndcg@2"] == pytest.approx((1 + 1 / np.log2(3) + 1) / 3)
  assert m["mrr@2/warm"] == pytest.approx((0.5 + 1) / 2) and m["hit@1/cold"] == 1.0
  no_exclusion = evaluate_ranking(fn, fn, FeatureArrays(rows), catalogue, 2, (1, 2), RankingOptions(exclude="none"))
  assert no_exclusion["hit@2/warm"] == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_device_ranking_of_one_relevant_item_equals_the_dense_ranking(seed):
  """_single_positions (scores and sparse exclusions on the device) gives relevant_positions's positions, with ties
  (scores rounded), the relevant item itself excluded (it stays) and padded exclusion lists."""
  import jax.numpy as jnp
  from rec_jax.evaluation.full_ranking import _single_positions
  from rec_jax.evaluation.ranking import relevant_positions
  rng = np.random.default_rng(seed)
  vectors, candidates = rng.normal(size=(16, 4)).round(0), rng.normal(size=(30, 4)).round(0)
  relevant = rng.integers(0, 30, size=(16, 1)).astype(np.int32)
  excluded = np.where(rng.random((16, 8)) < 0.7, rng.integers(0, 30, size=(16, 8)), -1).astype(np.int32)
  excluded[0, 0] = relevant[0, 0]
  dense = np.zeros((16, 30), bool)
  rows, cols = np.nonzero(excluded >= 0)
  dense[rows, excluded[rows, cols]] = True
  expected = relevant_positions(vectors @ candidates.T, relevant, dense)
  got = _single_positions(jnp.asarray(vectors, jnp.float32), jnp.asarray(candidates, jnp.float32), relevant, excluded)
  np.testing.assert_array_equal(got, expected)


def test_item_sets_padded_lists_each_rows_items():
  from rec_jax.data.item_sets import ItemSets
  sets = ItemSets.from_pairs(np.array([0, 0, 2, 2, 2]), np.array([5, 3, 1, 4, 9]), 3)
  np.testing.assert_array_equal(sets.padded(np.array([2, 1, 0]), 4), [[1, 4, 9, -1], [-1] * 4, [3, 5, -1, -1]])
