"""configs/iclrec_seq.py end to end on a small ICLRec-format file written here: packed SASRec training with
dropout resumes exactly (the dropout masks are a pure function of seed and step), BERT4Rec, the BCE loss and
RecBole's per-interaction unit train, and early stopping stops a run that no longer improves, also after a resume."""

import json
import os

import numpy as np
import pytest

from rec_jax import train
from rec_jax.config.loader import load_config
from rec_jax.workdir import RunFiles
from tests.data.datasets.test_user_sequences import write_lines
from tests.preemption import preempt_after

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
  """60 users of 6 to 14 clicks over 40 items, each mostly walking the items in order (learnable)."""
  rng = np.random.default_rng(0)
  lines = []
  for user in range(1, 61):
    start, n = int(rng.integers(0, 40)), int(rng.integers(6, 15))
    lines.append(" ".join(str(x) for x in [user] + [(start + k) % 40 + 1 for k in range(n)]).encode())
  path = str(tmp_path_factory.mktemp("iclrec") / "Toy.txt")
  write_lines(path, lines)
  return path


def _defined(metrics):
  """The metrics that are numbers (a slice with no query, e.g. /cold here, is NaN, and NaN != NaN)."""
  return {k: v for k, v in metrics.items() if v == v}


def _config(sequences, tfds_dir, preset="smoke", **train_overrides):
  cfg = load_config(os.path.join(ROOT, "configs", "iclrec_seq.py") + ":" + preset)
  cfg.data.path, cfg.data.data_dir = sequences, tfds_dir
  cfg.model.history_options.dropout = 0.3
  cfg.train.update(train_overrides)
  return cfg


def test_packed_training_with_dropout_resumes_exactly(sequences, tfds_dir, tmp_path):
  full = train.train_and_evaluate(_config(sequences, tfds_dir), str(tmp_path / "full"))
  assert full["training"]["unit"] == "sequence" and full["training"]["fill"] > 0.8
  assert full["metrics"]["num_queries"] == 60
  resumed_dir = str(tmp_path / "resumed")
  assert preempt_after(_config(sequences, tfds_dir), resumed_dir, 10) == 10
  resumed = train.train_and_evaluate(_config(sequences, tfds_dir), resumed_dir)
  assert _defined(resumed["metrics"]) == _defined(full["metrics"])
  assert [_defined(m) for m in RunFiles(resumed_dir).read_metrics()] == \
      [_defined(m) for m in RunFiles(str(tmp_path / "full")).read_metrics()]
  # Dropout is on in training only: without it the same run trains to other weights.
  cfg = _config(sequences, tfds_dir)
  cfg.model.history_options.dropout = 0.0
  assert _defined(train.train_and_evaluate(cfg, str(tmp_path / "no_dropout"))["metrics"]) != _defined(full["metrics"])


@pytest.mark.parametrize("preset", ["smoke,bert4rec", "smoke,bce", "smoke,interaction", "smoke,sampled"])
def test_the_other_objectives_and_protocols_train(sequences, tfds_dir, tmp_path, preset):
  results = train.train_and_evaluate(_config(sequences, tfds_dir, preset), str(tmp_path / "run"))
  assert results["training"]["unit"] == ("row" if "interaction" in preset else "sequence")
  m = results["metrics"]
  assert m["num_queries"] == 60 and 0 <= m["ndcg@10"] <= m["hit@10"] <= 1
  assert m["num_candidates"] == (11 if "sampled" in preset else 40)   # the 40 items, or 1 + 10 negatives


def test_early_stopping_stops_when_validation_stops_improving_and_after_a_resume(sequences, tfds_dir, tmp_path):
  # min_delta 2: no evaluation can improve on the first (metrics are <= 1), so patience 2 stops at the third.
  cfg = _config(sequences, tfds_dir, num_steps=200)
  cfg.train.early_stopping.update(patience=2, min_delta=2.0)
  workdir = str(tmp_path / "stopped")
  results = train.train_and_evaluate(cfg, workdir)
  assert results["stopped_early"] and results["step"] == 30
  log = RunFiles(workdir).read_metrics()
  assert [m["step"] for m in log] == [10, 20, 30]
  # The test metrics are the best checkpoint's (min_delta only decides when to stop).
  assert results["evaluated_step"] == max(log, key=lambda m: m["ndcg@10"])["step"]
  # Preempted after the stop's checkpoint, before results.json: the resumed run stops at once, at the same step.
  os.remove(os.path.join(workdir, "results.json"))
  again = train.train_and_evaluate(cfg, workdir)
  assert again["stopped_early"] and again["step"] == 30 and _defined(again["metrics"]) == _defined(results["metrics"])
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["train"]["early_stopping"] == {"patience": 2, "min_delta": 2.0}
