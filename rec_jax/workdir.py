"""The files of a workdir and of a sweep directory, named in this one module (the README's workdir contract), and
the resume rules of config.json, metrics.jsonl and results.json (`RunFiles`). rec_jax, launch/ and analysis/ all
find a run's files through these names."""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

from rec_jax.errors import UserError

# A run's workdir.
CONFIG_FILE = "config.json"               # the resolved config
METRICS_FILE = "metrics.jsonl"            # one line per evaluation
RESULTS_FILE = "results.json"             # the final metrics: a finished run
DATA_REPORT_FILE = "data_report.json"     # what governance (and the source files' reader) kept and dropped
PROCESSOR_FILE = "feature_processor.json"  # the train-fitted vocabularies and statistics
CHECKPOINTS_DIR = "checkpoints"           # orbax: latest/ and best/
TENSORBOARD_DIR = "tensorboard"
TEXT_CACHE_DIR = "text_cache"             # unless model.text.cache_dir points elsewhere
EVAL_NEGATIVES_DIR = "eval_negatives"     # sampled-ranking candidates, <split>.npz
# A sweep directory (launch/sweep.py): <variant>/seed_<n>/ workdirs, plus
SWEEP_FILE = "sweep.json"                 # every run of the sweep
RUN_LOG_FILE = "run.log"                  # in each run's workdir: its stdout and stderr
FAILED_FILE = "failed.json"               # in a failed run's workdir: exit code, error line, log tail
RUN_LOCK_FILE = ".sweep.lock"             # held by the sweep process running that workdir
# launch/aggregate.py's tables of a sweep directory.
RESULTS_MD, RESULTS_TEX, RESULTS_CSV, RUNS_CSV = "results.md", "results.tex", "results.csv", "runs.csv"


def fold_dir(workdir: str, fold: str) -> str:
  """The workdir of one fold of a k-fold run (rec_jax/cross_validation.py)."""
  return os.path.join(workdir, f"fold_{fold}")


def run_dir(sweep_dir: str, variant: str, seed: int) -> str:
  """The workdir of one run of a sweep."""
  return os.path.join(sweep_dir, variant, f"seed_{seed}")


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
  return out


class RunFiles:
  """config.json, metrics.jsonl and results.json of one workdir."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    os.makedirs(workdir, exist_ok=True)
    self.config_path = os.path.join(workdir, CONFIG_FILE)
    self.metrics_path = os.path.join(workdir, METRICS_FILE)
    self.results_path = os.path.join(workdir, RESULTS_FILE)

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
        raise UserError(f"{self.workdir} holds a run with a different config ({details}); "
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
