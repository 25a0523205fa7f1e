"""Every family of configs/zoo.py trains end to end on the tiny shop; the ranking and rating tasks report their
metrics, resume exactly (their per-step randomness is a function of seed and step) and refuse a model that cannot
serve them."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rec_jax import train
from tests.preemption import preempt_after
from rec_jax.config.loader import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _zoo(family: str, tfds_dir: str):
  cfg = load_config(os.path.join(ROOT, "configs", "zoo.py") + f":{family},smoke")
  cfg.data.data_dir = tfds_dir
  return cfg


def _families():
  import importlib.util  # pylint: disable=import-outside-toplevel
  spec = importlib.util.spec_from_file_location("zoo_config", os.path.join(ROOT, "configs", "zoo.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.FAMILIES


TASK_METRIC = {"ctr": "auc", "rating": "rmse", "retrieval": "ndcg@10", "next_item": "ndcg@10"}


@pytest.mark.parametrize("family", _families())
def test_family_trains(family, tfds_dir, tmp_path):
  cfg = _zoo(family, tfds_dir)
  cfg.train.num_steps = cfg.eval.every_steps = cfg.checkpoint.every_steps = 10
  result = train.train_and_evaluate(cfg, str(tmp_path / family))
  value = result["metrics"][TASK_METRIC[cfg.task]]
  assert np.isfinite(value) and result["parameters"]["trainable"] > 0 and result["train_steps_per_s"] > 0


def test_rating_beats_the_mean(tfds_dir, tmp_path):
  cfg = _zoo("mf_rating", tfds_dir)
  result = train.train_and_evaluate(cfg, str(tmp_path / "mf"))
  m = result["metrics"]
  assert {"rmse", "mae", "rmse/cold", "mae/warm"} <= set(m) and "auc" not in m
  # The train mean predicted for every row: what the label offset alone gives.
  from rec_jax.experiment import build_experiment  # pylint: disable=import-outside-toplevel
  data = build_experiment(cfg, str(tmp_path / "mf")).data
  test = data.splits["test"].rows.label
  assert set(np.unique(test)) <= {1, 2, 3, 4, 5}
  assert m["rmse"] < np.sqrt(np.mean((test - data.processor.label_mean) ** 2))


@pytest.mark.parametrize("family, overrides", [
    ("two_tower", {"num_negatives": 8}),   # in-batch + uniform negative rows drawn per step, logQ
    ("bert4rec", {"num_negatives": 16}),   # cloze masking and sampled softmax from the step key
])
def test_ranking_task_resumes_exactly(family, overrides, tfds_dir, tmp_path):
  cfg = _zoo(family, tfds_dir)
  cfg.task_options.update(overrides)
  full = train.train_and_evaluate(cfg, str(tmp_path / "full"))
  m = full["metrics"]
  assert {"hit@10", "ndcg@10", "mrr@10", "hit@50", "ndcg@10/cold", "num_queries"} <= set(m)
  assert 0 <= m["ndcg@10"] <= m["hit@10"] <= m["hit@50"] <= 1
  # Every item of every split is a candidate, new ones included.
  assert m["num_candidates"] > m["num_queries/cold"] > 0
  workdir = str(tmp_path / "resumed")
  assert preempt_after(cfg, workdir, 20) == 20
  assert train.train_and_evaluate(cfg, workdir)["metrics"] == m


def test_ranking_task_needs_a_ranking_model(tfds_dir, tmp_path):
  cfg = _zoo("dcnv2", tfds_dir)
  cfg.task = "next_item"
  with pytest.raises(ValueError, match="task='next_item' needs a model with query_vectors"):
    train.train_and_evaluate(cfg, str(tmp_path / "bad"))
