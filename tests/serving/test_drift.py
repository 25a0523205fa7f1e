"""Drift: PSI of identical and shifted distributions, window logs written per window, the monitor command's alarm."""

import json

import numpy as np

from rec_jax.batch import OOV
from rec_jax.serving import reference
from rec_jax.serving.drift import WindowLog, compare, merge, psi, read_windows
from rec_jax.serving.signature import Signature


def test_psi():
  assert psi([0.5, 0.5], [50, 50]) == 0.0
  # Hand-computed: (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5)
  assert abs(psi([0.5, 0.5], [0.9, 0.1]) - (0.4 * np.log(1.8) + 0.4 * np.log(5))) < 1e-12
  assert psi([1.0, 0.0], [0.0, 1.0]) > 5   # empty bins are floored, not infinite


def test_reference_bins_and_windows(tmp_path):
  rng = np.random.default_rng(0)
  train_ids = rng.integers(2, 30, size=5000)
  train_ids[:50] = OOV
  ref = {"inputs": {"cat.brand": reference.categorical_bins(train_ids),
                    "num.price": reference.numeric_bins(rng.normal(size=5000))},
         "score": reference.numeric_bins(rng.uniform(size=5000))}
  assert abs(sum(ref["inputs"]["cat.brand"]["proportions"]) - 1) < 1e-9
  assert abs(ref["inputs"]["cat.brand"]["proportions"][0] - 0.01) < 1e-9   # the OOV share
  assert abs(sum(ref["inputs"]["num.price"]["proportions"]) - 1) < 1e-9
  sig = Signature(categorical=("brand",), numeric=("price",), history_length=0, user_features=(),
                  item_features=("brand", "price"))
  log = str(tmp_path / "monitor.jsonl")
  windows = WindowLog(ref, sig, log, window_rows=1000, window_seconds=3600)
  # Window 0: like training. Window 1: half the brands unknown, prices shifted by 2 std, scores near 1.
  for _ in range(4):
    windows.record({"cat.brand": rng.integers(2, 30, size=250), "num.price": rng.normal(size=250)},
                   rng.uniform(size=250))
  shifted = rng.integers(2, 30, size=250)
  shifted[:125] = OOV
  for _ in range(4):
    windows.record({"cat.brand": shifted, "num.price": rng.normal(size=250) + 2},
                   rng.uniform(0.9, 1.0, size=250))
  windows.flush()
  lines = read_windows(log)
  assert [w["window"] for w in lines] == [0, 1] and [w["rows"] for w in lines] == [1000, 1000]
  calm = {r["input"]: r for r in compare(ref, lines[0])}
  drifted = {r["input"]: r for r in compare(ref, lines[1])}
  assert all(r["level"] == "ok" for r in calm.values()), calm
  assert {k: r["level"] for k, r in drifted.items()} == {"cat.brand": "ALARM", "num.price": "ALARM",
                                                          "score": "ALARM"}
  assert drifted["cat.brand"]["oov_window"] == 0.5 and abs(drifted["cat.brand"]["oov_train"] - 0.01) < 1e-9
  assert drifted["score"]["mean_window"] > 0.9
  both = merge(lines)
  assert both["rows"] == 2000 and sum(both["inputs"]["cat.brand"]) == 2000
  json.dumps(both)
