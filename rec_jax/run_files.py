"""The files of a workdir (DESIGN.md §6): config.json, metrics.jsonl, results.json, and their resume rules."""

from __future__ import annotations

import json
import os
from typing import Dict, Optional


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
  return out


class RunFiles:
  def __init__(self, workdir: str):
    self.workdir = workdir
    os.makedirs(workdir, exist_ok=True)
    self.config_path = os.path.join(workdir, "config.json")
    self.metrics_path = os.path.join(workdir, "metrics.jsonl")
    self.results_path = os.path.join(workdir, "results.json")

  def write_or_check_config(self, config) -> None:
    """Writes the resolved config; a workdir holding another config is refused, naming the differing keys."""
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(self.config_path):
      with open(self.config_path) as f:
        saved = _flatten(json.load(f))
      now = _flatten(resolved)
      diff = sorted(k for k in set(saved) | set(now) if saved.get(k, "<absent>") != now.get(k, "<absent>"))
      if diff:
        details = ", ".join(f"{k}: {saved.get(k, '<absent>')!r} -> {now.get(k, '<absent>')!r}" for k in diff[:8])
        details += f", and {len(diff) - 8} more" if len(diff) > 8 else ""
        raise ValueError(f"{self.workdir} holds a run with a different config ({details}); "
                         "use a new --workdir or the same config to resume")
      return
    with open(self.config_path, "w") as f:
      json.dump(resolved, f, indent=1, sort_keys=True)

  def finished(self) -> bool:
    return os.path.exists(self.results_path)

  def read_results(self) -> dict:
    with open(self.results_path) as f:
      return json.load(f)

  def write_results(self, results: dict) -> None:
    tmp = self.results_path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, self.results_path)

  def append_metrics(self, step: int, metrics: Dict[str, float]) -> None:
    with open(self.metrics_path, "a") as f:
      f.write(json.dumps({"step": step, **metrics}, sort_keys=True) + "\n")

  def read_metrics(self):
    if not os.path.exists(self.metrics_path):
      return []
    with open(self.metrics_path) as f:
      return [json.loads(line) for line in f if line.strip()]

  def truncate_metrics(self, step: int) -> None:
    """Forgets evaluations logged after the resumed step; the resumed run logs them again."""
    kept = [m for m in self.read_metrics() if m["step"] <= step]
    with open(self.metrics_path, "w") as f:
      f.writelines(json.dumps(m, sort_keys=True) + "\n" for m in kept)

  def metrics_at(self, step: int) -> Optional[dict]:
    return next((m for m in self.read_metrics() if m["step"] == step), None)
