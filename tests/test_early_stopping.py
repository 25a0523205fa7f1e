"""Tests the early-stopping rule: the best evaluation is the first one better than every earlier by more than
min_delta in the metric's direction, and a run stops once `patience` evaluations followed it; patience 0 never."""

import pytest

from rec_jax.early_stopping import EarlyStopping, best_evaluation, should_stop

LOG = [{"step": 1, "auc": 0.60}, {"step": 2, "auc": 0.70}, {"step": 3, "auc": 0.705}, {"step": 4, "auc": 0.69}]


def test_best_evaluation_respects_direction_and_min_delta():
  assert best_evaluation(LOG, "auc", "max") == 2
  assert best_evaluation(LOG, "auc", "max", min_delta=0.01) == 1   # +0.005 is no improvement
  assert best_evaluation(LOG, "auc", "min") == 0
  assert best_evaluation(LOG, "ndcg@10", "max") is None


def test_should_stop_after_patience_evaluations_without_improvement():
  assert not should_stop(LOG, "auc", "max", EarlyStopping(patience=2))
  assert should_stop(LOG, "auc", "max", EarlyStopping(patience=2, min_delta=0.01))
  assert should_stop(LOG, "auc", "max", EarlyStopping(patience=1))
  assert not should_stop(LOG, "auc", "max", EarlyStopping(patience=0, min_delta=1.0))
  assert not should_stop([], "auc", "max", EarlyStopping(patience=1))


def test_bad_options_are_named():
  with pytest.raises(ValueError, match="patience"):
    EarlyStopping(patience=-1)
  with pytest.raises(ValueError, match="min_delta"):
    EarlyStopping(min_delta=-0.1)
  with pytest.raises(ValueError, match="unknown option"):
    EarlyStopping.from_config({"patient": 3}, where="train.early_stopping")
