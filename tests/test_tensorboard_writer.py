"""TensorBoard event files of a run, read back with TensorBoard's own reader (tensorboard.backend), agree with
metrics.jsonl and results.json; a resumed run's curves equal an uninterrupted one's."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from rec_jax.tensorboard_writer import TENSORBOARD_DIR, TensorBoard, tag


def read_scalars(workdir) -> dict:
  """{tag: [(step, value)]} as TensorBoard shows them (orphaned events of a resumed run purged)."""
  acc = event_accumulator.EventAccumulator(os.path.join(str(workdir), TENSORBOARD_DIR),
                                           size_guidance={event_accumulator.SCALARS: 0}, purge_orphaned_data=True)
  acc.Reload()
  return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


@pytest.mark.xdist_group("trained_smoke_run")
def test_events_hold_train_and_eval_scalars(trained_smoke_run):
  scalars = read_scalars(trained_smoke_run)
  evals = [json.loads(line) for line in open(os.path.join(trained_smoke_run, "metrics.jsonl"))]
  config = json.load(open(os.path.join(trained_smoke_run, "config.json")))
  names = [k for k in evals[0] if k != "step" and not k.startswith("train/")]
  assert {"auc", "logloss", "ndcg@10", "oracle_auc"} <= set(names)
  for name in names:
    assert scalars[tag(f"val/{name}")] == [(e["step"], pytest.approx(e[name], rel=1e-6)) for e in evals], name
  every, steps = config["train"]["log_every"], config["train"]["num_steps"]
  logged = list(range(every, steps + 1, every))
  for name in ("loss", "grad_norm", "learning_rate", "steps_per_s"):
    assert [s for s, _ in scalars[f"train/{name}"]] == logged, name
    assert all(np.isfinite(v) and v >= 0 for _, v in scalars[f"train/{name}"])
  # At evaluation steps the train loss is the one metrics.jsonl logged, and the schedule's rate.
  by_step = dict(scalars["train/loss"])
  rates = dict(scalars["train/learning_rate"])
  for e in evals:
    assert by_step[e["step"]] == pytest.approx(e["train/loss"], rel=1e-6)
    assert rates[e["step"]] == pytest.approx(e["train/learning_rate"], rel=1e-6)
  results = json.load(open(os.path.join(trained_smoke_run, "results.json")))
  assert scalars["test/auc"] == [(results["step"], pytest.approx(results["metrics"]["auc"], rel=1e-6))]


def test_writer_skips_what_is_not_a_finite_number(tmp_path):
  board = TensorBoard(str(tmp_path))
  board.scalars(3, {"a": 1, "b": np.float32(2.5), "c": float("nan"), "d": "text", "e": np.zeros(2), "f@5": True,
                    "g@5": np.asarray(4.0)}, "val/")
  board.close()
  assert read_scalars(tmp_path) == {"val/a": [(3, 1.0)], "val/b": [(3, 2.5)], "val/g_at_5": [(3, 4.0)]}


def test_resumed_writer_purges_what_the_interrupted_process_logged_after_its_checkpoint(tmp_path):
  first = TensorBoard(str(tmp_path))
  for step in (10, 20, 30):   # checkpoint at 20; the process dies after logging 30
    first.scalars(step, {"loss": step / 10}, "train/")
  first.close()
  resumed = TensorBoard(str(tmp_path), start_step=20)
  for step in (30, 40):
    resumed.scalars(step, {"loss": step / 100}, "train/")
  resumed.close()
  events = read_scalars(tmp_path)["train/loss"]
  assert [s for s, _ in events] == [10, 20, 30, 40]
  assert [v for _, v in events] == pytest.approx([1.0, 2.0, 0.3, 0.4])
