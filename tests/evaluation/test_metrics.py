import numpy as np
import pytest
from sklearn.metrics import log_loss, ndcg_score, roc_auc_score

from rec_jax.evaluation import metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties(seed):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, 500)
  scores = np.round(rng.random(500), 1)   # many ties
  assert metrics.auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_auc_perfect_inverse_and_single_class():
  y = np.array([0, 0, 1, 1])
  assert metrics.auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
  assert metrics.auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
  assert np.isnan(metrics.auc(np.ones(3), np.arange(3.0)))


def test_logloss_matches_sklearn():
  rng = np.random.default_rng(0)
  y, p = rng.integers(0, 2, 300), rng.random(300)
  assert metrics.logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-9)


def test_ndcg_matches_sklearn_per_user_mean():
  rng = np.random.default_rng(3)
  groups = rng.integers(0, 30, 800)
  y = (rng.random(800) < 0.2).astype(int)
  s = rng.random(800)
  expected = np.mean([ndcg_score(y[groups == g][None], s[groups == g][None], k=10)
                      for g in np.unique(groups) if y[groups == g].sum() > 0 and (groups == g).sum() > 1])
  single = [g for g in np.unique(groups) if (groups == g).sum() == 1 and y[groups == g].sum() > 0]
  assert not single  # sklearn refuses one-document queries; this seed has none
  assert metrics.ndcg_at_k(groups, y, s, 10) == pytest.approx(expected, rel=1e-9)


def test_ndcg_hand_computed():
  # One user, positives at ranks 2 and 3 of 3: DCG = 1/log2(3) + 1/log2(4), IDCG = 1 + 1/log2(3).
  groups, y, s = np.zeros(3), np.array([0, 1, 1]), np.array([0.9, 0.5, 0.1])
  expected = (1 / np.log2(3) + 0.5) / (1 + 1 / np.log2(3))
  assert metrics.ndcg_at_k(groups, y, s, 10) == pytest.approx(expected)
  assert metrics.ndcg_at_k(groups, y, s, 1) == 0.0


def test_rmse_and_mae_hand_computed():
  targets, predictions = np.array([1.0, 3.0, 5.0, 4.0]), np.array([2.0, 3.0, 3.0, 4.5])
  # errors 1, 0, -2, 0.5: squared 1 + 0 + 4 + 0.25 = 5.25; absolute 1 + 0 + 2 + 0.5 = 3.5
  assert metrics.rmse(targets, predictions) == pytest.approx(np.sqrt(5.25 / 4))
  assert metrics.mae(targets, predictions) == pytest.approx(3.5 / 4)
