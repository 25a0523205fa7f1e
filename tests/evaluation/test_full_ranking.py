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
