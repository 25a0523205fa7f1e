"""Input and score drift: what a service saw per window, against the training data (serving/reference.py).

The service counts every scored row's inputs into the reference's bins (`WindowLog.record`) and appends one JSON
line per window to its monitor log: the window's bounds, the served model's version, its request and row counts,
the bin counts per input and of the `/score` scores. `read_log` reads a log back for one export: a line that is not
a window of that export's model is an error naming the line, a last line cut short by a stopped service is skipped
with a note. `compare` turns a window into a report: per input the population stability index
PSI = sum_i (a_i - e_i) ln(a_i / e_i) over the bins (shares e in training, a in the window, both floored at 1e-4),
the window's out-of-vocabulary rate against training's, and the scores' PSI and mean shift.
Usual reading of PSI: < 0.1 stable, 0.1-0.2 a moderate shift (`warn`), >= 0.2 a significant shift (`ALARM`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from rec_jax.errors import UserError
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
               window_seconds: float = 60.0, model_version: str = ""):
    self.reference, self.path, self.model_version = reference, path, model_version
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
    line = {"window": self.windows, **({"model_version": self.model_version} if self.model_version else {}),
            "start": self.start, "end": time.time(), "requests": self.requests,
            "rows": self.rows, "inputs": {k: v.tolist() for k, v in self.counts.items() if v.sum()},
            "score": {"counts": self.score_counts.tolist(), "rows": self.scored, "sum": self.score_sum}}
    with open(self.path, "a") as f:
      f.write(json.dumps(line) + "\n")
    self.windows += 1
    self._reset()


def read_windows(path: str) -> List[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _window_problem(window, reference: dict, version: Optional[str]) -> Optional[str]:
  """What makes `window` (a parsed log line) not a window of the export of `reference` and `version`, or None."""
  if not isinstance(window, dict) or not {"window", "requests", "rows", "inputs", "score"} <= window.keys() \
      or not isinstance(window["inputs"], dict) or not isinstance(window["score"], dict) \
      or not {"counts", "rows", "sum"} <= window["score"].keys():
    return "is not a monitor window"
  if version and window.get("model_version", version) != version:
    return (f"is a window of model {window['model_version']}, not of this export's {version} (the log of another "
            "export's service)")
  for name, counts in window["inputs"].items():
    ref = reference["inputs"].get(name)
    if ref is None:
      return f"counts input {name}, which the export's reference.json has not (the log of another export's service)"
    if not isinstance(counts, list) or len(counts) != len(ref["proportions"]):
      return (f"counts input {name} in {len(counts) if isinstance(counts, list) else 'no'} bins, the export's "
              f"reference.json in {len(ref['proportions'])} (the log of another export's service)")
  counts = window["score"]["counts"]
  if not isinstance(counts, list) or len(counts) != len(reference["score"]["proportions"]):
    return "counts the scores in other bins than the export's reference.json (the log of another export's service)"
  return None


def read_log(path: str, reference: dict, version: Optional[str] = None) -> Tuple[List[dict], List[str]]:
  """(the windows of the monitor log `path`, notes on what was skipped). Each line must be a window of the export
  whose `reference` and model `version` are given, else a UserError names the line; a last line cut short (the
  service stopped while appending it) is skipped with a note."""
  with open(path, "rb") as f:
    data = f.read()
  lines = data.split(b"\n")
  windows, notes = [], []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    last = number == len(lines)   # no newline after it: possibly cut short
    try:
      window = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      if last:
        notes.append(f"{path} line {number} is cut short (the service stopped while writing it); skipped")
        continue
      raise UserError(f"{path} line {number} is not a monitor window ({e}); is --log the file of a service's "
                      "--monitor_log?") from None
    problem = _window_problem(window, reference, version)
    if problem:
      raise UserError(f"{path} line {number} {problem}")
    windows.append(window)
  return windows, notes


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
