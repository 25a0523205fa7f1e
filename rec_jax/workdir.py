"""The files of a workdir and of a sweep directory, named in this one module (the README's workdir contract), the
resume rules of config.json, metrics.jsonl and results.json (`RunFiles`), and the lock that keeps a second process
out of a workdir (`WorkdirLock`). rec_jax, launch/ and analysis/ all find a run's files through these names.

A multi-process run (rec_jax/distributed.py) shares one workdir: process 0 writes these files and decides on the
config check for all; every process holds its own lock."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from typing import Callable, Dict, Optional

from rec_jax import distributed
from rec_jax.errors import UserError

# A run's workdir.
CONFIG_FILE = "config.json"               # the resolved config
METRICS_FILE = "metrics.jsonl"            # one line per evaluation
RESULTS_FILE = "results.json"             # the final metrics: a finished run
DATA_REPORT_FILE = "data_report.json"     # what governance (and the source files' reader) kept and dropped
PROCESSOR_FILE = "feature_processor.json"  # the train-fitted vocabularies and statistics
DATA_FINGERPRINT_FILE = "data_fingerprint.json"  # digests of the prepared splits and of the processor file
LOCK_FILE = ".run.lock"                   # held by the process training in the workdir (its pid inside)
CHECKPOINTS_DIR = "checkpoints"           # orbax: latest/ and best/
TENSORBOARD_DIR = "tensorboard"
TEXT_CACHE_DIR = "text_cache"             # unless model.text.cache_dir points elsewhere
# Config keys that place a run (on devices) or pace its input, not what it computes; a resume may change them.
PLACEMENT = ("parallel.", "data.prefetch")
SHAPING = ("parallel.table_row_multiple",)   # under PLACEMENT's prefixes, but shapes the parameters
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
  """config.json, metrics.jsonl and results.json of one workdir. In a multi-process run only process 0 writes them
  (the others' writes do nothing); all may read them."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    if os.path.exists(workdir) and not os.path.isdir(workdir):
      raise UserError(f"the workdir {workdir} is a file, not a directory; use another --workdir")
    os.makedirs(workdir, exist_ok=True)
    self.config_path = os.path.join(workdir, CONFIG_FILE)
    self.metrics_path = os.path.join(workdir, METRICS_FILE)
    self.results_path = os.path.join(workdir, RESULTS_FILE)

  def _read_config(self) -> dict:
    try:
      with open(self.config_path) as f:
        saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise UserError(f"{self.config_path} is not valid JSON ({e}): the workdir is damaged; use a new --workdir") \
          from None
    if not isinstance(saved, dict):
      raise UserError(f"{self.config_path} holds no config object: the workdir is damaged; use a new --workdir")
    return saved

  def trained(self) -> bool:
    """Whether the workdir holds anything training produced: results or a resumable (latest) checkpoint."""
    latest = os.path.join(self.workdir, CHECKPOINTS_DIR, "latest")
    steps = [n for n in os.listdir(latest) if n.isdigit()] if os.path.isdir(latest) else []
    return self.finished() or bool(steps)

  def discard_untrained(self) -> None:
    """Forgets what a run that never reached its first checkpoint left: its config, data report, fitted features,
    validation log and best checkpoints. Such a run restarts from step 0 anyway, so a corrected command may
    replace its config instead of being refused."""
    for name in (CONFIG_FILE, DATA_REPORT_FILE, PROCESSOR_FILE, DATA_FINGERPRINT_FILE, METRICS_FILE):
      path = os.path.join(self.workdir, name)
      if os.path.exists(path):
        os.remove(path)
    for name in (CHECKPOINTS_DIR, TENSORBOARD_DIR, EVAL_NEGATIVES_DIR):
      shutil.rmtree(os.path.join(self.workdir, name), ignore_errors=True)

  def write_or_check_config(self, config, complete: Callable[[dict], dict] = lambda saved: saved) -> None:
    """Writes the resolved config; a workdir holding another config is refused, naming the differing keys, unless
    its run never reached a checkpoint (then it is started again with this config) or only the `parallel` section
    differs (the mesh: the run resumes on the new one). `complete`: the saved config
    with the options it lacks at their defaults (config/base.py's `with_defaults`), so a run made before an option
    was added still resumes or reports. Many processes: process 0 checks and writes, and its refusal stops all."""
    distributed.on_primary(lambda: self._write_or_check_config(config, complete), "checking the workdir's config")

  def _write_or_check_config(self, config, complete: Callable[[dict], dict]) -> None:
    resolved = json.loads(config.to_json_best_effort())
    if os.path.exists(self.config_path):
      try:
        saved = _flatten(complete(self._read_config()))
      except UserError:
        if self.trained():
          raise
        saved, details = None, "unreadable"
      if saved is not None:
        now = _flatten(resolved)
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k, "<absent>") != now.get(k, "<absent>"))
        moved = [k for k in diff if k.startswith(PLACEMENT) and k not in SHAPING]
        if moved and len(moved) == len(diff):
          # Where the run is placed, not what it computes: a run resumes on another mesh (its checkpoint is
          # resharded); config.json keeps the values it started with.
          logging.warning("%s: resuming on another placement (%s)", self.workdir,
                          ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in moved))
          return
        if not diff:
          return
        details = ", ".join(f"{k}: {saved.get(k, '<absent>')!r} -> {now.get(k, '<absent>')!r}" for k in diff[:8])
        details += f", and {len(diff) - 8} more" if len(diff) > 8 else ""
        if self.trained():
          raise UserError(f"{self.workdir} holds a run with a different config ({details}); "
                          "use a new --workdir or the same config to resume")
      logging.warning("%s holds a run with another config (%s) that never reached a checkpoint: starting it again "
                      "with this config", self.workdir, details)
      self.discard_untrained()
    with open(self.config_path, "w") as f:
      json.dump(resolved, f, indent=1, sort_keys=True)

  def finished(self) -> bool:
    return os.path.exists(self.results_path)

  def read_results(self) -> dict:
    try:
      with open(self.results_path) as f:
        return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise UserError(f"{self.results_path} is not valid JSON ({e}): delete it to evaluate the run again") from None

  def write_results(self, results: dict) -> None:
    if not distributed.is_primary():
      return
    tmp = self.results_path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, self.results_path)

  def append_metrics(self, step: int, metrics: Dict[str, float]) -> None:
    if not distributed.is_primary():
      return
    with open(self.metrics_path, "a") as f:
      f.write(json.dumps({"step": step, **metrics}, sort_keys=True) + "\n")

  def read_metrics(self):
    """The validation log; a last line cut short by a kill is dropped (the resumed run logs that evaluation
    again), a damaged line before it is a named error."""
    if not os.path.exists(self.metrics_path):
      return []
    with open(self.metrics_path) as f:
      lines = [line for line in f.read().split("\n") if line.strip()]
    out = []
    for i, line in enumerate(lines):
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError as e:
        if i == len(lines) - 1:
          logging.warning("%s: dropping its last line, cut short (%s)", self.metrics_path, e)
          break
        raise UserError(f"{self.metrics_path} line {i + 1} is not valid JSON ({e}): the workdir is damaged; "
                        "use a new --workdir") from None
    return out

  def truncate_metrics(self, step: int) -> None:
    """Forgets evaluations logged after the resumed step (and a line cut short by a kill); the resumed run logs
    them again. Written aside and renamed: a kill during it loses nothing."""
    if not distributed.is_primary():
      return
    kept = [m for m in self.read_metrics() if m["step"] <= step]
    tmp = self.metrics_path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(json.dumps(m, sort_keys=True) + "\n" for m in kept)
    os.replace(tmp, self.metrics_path)

  def metrics_at(self, step: int) -> Optional[dict]:
    return next((m for m in self.read_metrics() if m["step"] == step), None)


class WorkdirLock:
  """An exclusive lock on a workdir for the process training in it (`with WorkdirLock(workdir): ...`): a second
  process on the same workdir is refused with the holder's pid. The operating system releases it when the holder
  dies, however it dies. The processes of one multi-process run share the workdir, so each holds its own lock
  (`.run.lock` for process 0, `.run.lock.<index>` for the others): they do not exclude each other, while a second
  run's processes find theirs held."""

  def __init__(self, workdir: str):
    index = distributed.process_index()
    self.path = os.path.join(workdir, LOCK_FILE + (f".{index}" if index else ""))
    self._file = None

  def __enter__(self) -> "WorkdirLock":
    f = open(self.path, "a+")
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "unknown"
      f.close()
      raise UserError(f"{os.path.dirname(self.path)} is in use by another rec_jax process (pid {holder}); wait "
                      "for it to finish, stop it, or use another --workdir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc) -> None:
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None
