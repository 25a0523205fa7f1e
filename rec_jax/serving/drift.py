"""Input and score drift: what a service saw per window, against the training data (serving/reference.py).

The service counts every scored row's inputs into the reference's bins (`WindowLog.record`) and appends one JSON
line per window to its monitor log: the window's bounds, its request and row counts, the bin counts per input and
of the `/score` scores. `compare` turns a window into a report: per input the population stability index
PSI = sum_i (a_i - e_i) ln(a_i / e_i) over the bins (shares e in training, a in the window, both floored at 1e-4),
the window's out-of-vocabulary rate against training's, and the scores' PSI and mean shift.
Usual reading of PSI: < 0.1 stable, 0.1-0.2 a moderate shift (`warn`), >= 0.2 a significant shift (`ALARM`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Dict, List, Optional

import numpy as np

from rec_jax.serving.reference import bin_counts, monitored_inputs

FLOOR = 1e-4
WARN, ALARM = 0.1, 0.2


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
  """Population stability index of two distributions over the same bins (shares or counts)."""
  e = np.asarray(expected, np.float64)
  a = np.asarray(actual, np.float64)
  e = np.maximum(e / max(e.sum(), 1e-12), FLOOR)
  a = np.maximum(a / max(a.sum(), 1e-12), FLOOR)
  return float(np.sum((a - e) * np.log(a / e)))


class WindowLog:
  """Counts a service's inputs and scores per window; a window closes after `window_rows` rows or `window_seconds`
  seconds, whichever first, and is appended to `path` as one JSON line."""

  def __init__(self, reference: dict, signature, path: str, window_rows: int = 10000,
               window_seconds: float = 60.0):
    self.reference, self.path = reference, path
    self.window_rows, self.window_seconds = window_rows, window_seconds
    self.inputs = {name: kind for name, kind in monitored_inputs(signature).items() if name in reference["inputs"]}
    self._lock = threading.Lock()
    self.windows = 0
    self._reset()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

  def _reset(self) -> None:
    self.start = time.time()
    self.requests = self.rows = self.scored = 0
    self.counts = {name: np.zeros(len(self.reference["inputs"][name]["proportions"]), np.int64)
                   for name in self.inputs}
    self.score_counts = np.zeros(len(self.reference["score"]["proportions"]), np.int64)
    self.score_sum = 0.0

  def record(self, inputs: Dict[str, np.ndarray], scores: Optional[np.ndarray]) -> None:
    """One call's rows: their inputs (those a window tracks that the call has) and, from /score, their scores."""
    with self._lock:
      self.requests += 1
      n = len(next(iter(inputs.values())))
      self.rows += n
      for name in self.inputs:
        if name in inputs:
          self.counts[name] += bin_counts(self.reference["inputs"][name], inputs[name])
      if scores is not None:
        scores = np.asarray(scores, np.float64)
        self.score_counts += bin_counts(self.reference["score"], scores)
        self.score_sum += float(scores.sum())
        self.scored += len(scores)
      if self.rows >= self.window_rows or time.time() - self.start >= self.window_seconds:
        self._flush_locked()

  def flush(self) -> None:
    with self._lock:
      if self.rows:
        self._flush_locked()

  def _flush_locked(self) -> None:
    line = {"window": self.windows, "start": self.start, "end": time.time(), "requests": self.requests,
            "rows": self.rows, "inputs": {k: v.tolist() for k, v in self.counts.items() if v.sum()},
            "score": {"counts": self.score_counts.tolist(), "rows": self.scored, "sum": self.score_sum}}
    with open(self.path, "a") as f:
      f.write(json.dumps(line) + "\n")
    self.windows += 1
    self._reset()


def read_windows(path: str) -> List[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def merge(windows: List[dict]) -> dict:
  """Several windows as one (their counts summed)."""
  out = {"window": [w["window"] for w in windows], "requests": 0, "rows": 0, "inputs": {},
         "score": {"counts": None, "rows": 0, "sum": 0.0}}
  for w in windows:
    out["requests"] += w["requests"]
    out["rows"] += w["rows"]
    for name, counts in w["inputs"].items():
      prev = out["inputs"].get(name)
      out["inputs"][name] = np.add(prev, counts).tolist() if prev is not None else list(counts)
    s = w["score"]
    out["score"]["counts"] = np.add(out["score"]["counts"], s["counts"]).tolist() if out["score"]["counts"] \
        else list(s["counts"])
    out["score"]["rows"] += s["rows"]
    out["score"]["sum"] += s["sum"]
  return out


def level(value: float) -> str:
  return "ALARM" if value >= ALARM else "warn" if value >= WARN else "ok"


def compare(reference: dict, window: dict) -> List[dict]:
  """One row per input the window saw, then one for the scores: PSI, level, and OOV rates or the mean shift."""
  rows = []
  for name, counts in sorted(window["inputs"].items()):
    ref = reference["inputs"][name]
    counts = np.asarray(counts, np.int64)
    value = psi(ref["proportions"], counts)
    row = {"input": name, "psi": value, "level": level(value), "rows": int(counts.sum())}
    if ref["kind"] == "categorical":
      row["oov_train"] = float(ref["proportions"][0])
      row["oov_window"] = float(counts[0] / max(counts.sum(), 1))
    rows.append(row)
  score = window["score"]
  if score["rows"]:
    ref = reference["score"]
    value = psi(ref["proportions"], score["counts"])
    rows.append({"input": "score", "psi": value, "level": level(value), "rows": int(score["rows"]),
                 "mean_train": ref["mean"], "mean_window": score["sum"] / score["rows"],
                 "shift_in_std": (score["sum"] / score["rows"] - ref["mean"]) / max(ref["std"], 1e-12)})
  return rows


def format_report(rows: List[dict], window: dict) -> str:
  lines = [f"window {window['window']}: {window['requests']} calls, {window['rows']} rows",
           f"{'input':<24} {'psi':>8}  {'level':<6} {'rows':>8}  detail"]
  for r in rows:
    if "oov_train" in r:
      detail = f"oov {r['oov_window']:.3f} (train {r['oov_train']:.3f})"
    elif "mean_train" in r:
      detail = f"mean {r['mean_window']:.4f} (train {r['mean_train']:.4f}, {r['shift_in_std']:+.2f} std)"
    else:
      detail = ""
    lines.append(f"{r['input']:<24} {r['psi']:>8.4f}  {r['level']:<6} {r['rows']:>8}  {detail}")
  alarms = [r["input"] for r in rows if r["level"] == "ALARM"]
  lines.append(f"ALARM: {', '.join(alarms)} drifted (PSI >= {ALARM})" if alarms else
               f"no alarm (every PSI < {ALARM})")
  return "\n".join(lines)
