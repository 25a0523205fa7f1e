r"""python -m launch.sweep --config=configs/synthetic.py --sweep=configs/sweeps/tower_ablation.py --workdir=/tmp/rec_jax/towers [--parallel=N]

Expands a sweep (configs/sweeps/*.py: `get_sweep(arg)` -> dict(variants=[dict(name, preset, overrides)], seeds,
baseline)) into one run per variant and seed, each `python -m rec_jax.main` in its own process and workdir
`<workdir>/<variant>/seed_<n>`, sequentially or `--parallel=N` at a time, each of the N on its own device subset
(launch/devices.py). `<workdir>/sweep.json` lists every run of the sweep, so launch.aggregate tables the runs not yet
started too.

Resumable: re-running the command skips what is finished (rec_jax.main only checks that the workdir holds this very
config, so a sweep edited since is refused rather than reported with stale results) and resumes interrupted runs
from their checkpoints. Killing the sweep (SIGTERM, Ctrl-C) stops its runs too; a run another sweep process is
running (its workdir's lock is held) is left alone. A failed run leaves `failed.json` (exit code, error line, last
lines of its log) in its workdir and is listed in the summary, never dropped.
Then `python -m launch.aggregate --sweep_dir=<workdir>` tables the results.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List

from absl import app, flags

from launch.devices import slot_environments
from rec_jax.config.loader import execute_file
from rec_jax.errors import UserError
from rec_jax.progress import bar
from rec_jax.workdir import FAILED_FILE, RESULTS_FILE, RUN_LOCK_FILE, RUN_LOG_FILE, SWEEP_FILE, run_dir

_CONFIG = flags.DEFINE_string("config", None, "Base config file (configs/*.py); a variant's preset follows a colon.")
_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file (configs/sweeps/*.py[:arg]) defining get_sweep(arg).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory: one sub-directory per variant and seed.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time, each on its own device subset.")
_DEVICES_PER_RUN = flags.DEFINE_integer("devices_per_run", 0, "Devices of each parallel run (0: an even share).")
_ONLY = flags.DEFINE_list("only", [], "Run only these variants (names).")

# `--config.a.b=v` flags given to the sweep itself: passed to every run, after the variant's own overrides.
_COMMON_OVERRIDES: List[str] = []


@dataclasses.dataclass
class Run:
  variant: str
  seed: int
  config: str   # --config value: file[:preset]
  overrides: Dict[str, object]
  workdir: str

  def command(self) -> List[str]:
    flags_ = [f"--config.{k}={v}" for k, v in {**self.overrides, "seed": self.seed}.items()]
    return [sys.executable, "-m", "rec_jax.main", f"--config={self.config}", f"--workdir={self.workdir}", *flags_,
            *_COMMON_OVERRIDES]


def load_sweep(spec: str) -> dict:
  module, arg = execute_file(spec, "sweep file", "get_sweep")
  path = spec.partition(":")[0]
  sweep = module.get_sweep(arg)
  if not isinstance(sweep, dict) or not sweep.get("variants"):
    raise UserError(f"{path}: get_sweep() must return dict(variants=[dict(name, preset, overrides)], seeds)")
  unnamed = [v for v in sweep["variants"] if not isinstance(v, dict) or "name" not in v]
  if unnamed:
    raise UserError(f"{path}: every variant needs a name, got {unnamed[0]!r}")
  names = [v["name"] for v in sweep["variants"]]
  if len(set(names)) != len(names):
    raise UserError(f"{path}: variant names repeat: {names}")
  if sweep.get("baseline") is not None and sweep["baseline"] not in names:
    raise UserError(f"{path}: baseline {sweep['baseline']!r} is not a variant; variants: {names}")
  return sweep


def expand(config: str, sweep: dict, workdir: str, only=()) -> List[Run]:
  runs = []
  for variant in sweep["variants"]:
    if only and variant["name"] not in only:
      continue
    preset = variant.get("preset", "")
    for seed in sweep.get("seeds", (0,)):
      runs.append(Run(variant["name"], int(seed), f"{config}:{preset}" if preset else config,
                      dict(variant.get("overrides", {})), run_dir(workdir, variant["name"], seed)))
  return runs


def write_manifest(workdir: str, config: str, spec: str, sweep: dict, runs: List[Run]) -> None:
  """`sweep.json`: every run of the sweep (also those --only leaves out), for launch.aggregate."""
  manifest = {"config": config, "sweep": spec, "baseline": sweep.get("baseline"),
              "variants": [v["name"] for v in sweep["variants"]], "seeds": [int(s) for s in sweep.get("seeds", (0,))],
              "runs": [{"variant": r.variant, "seed": r.seed, "workdir": os.path.relpath(r.workdir, workdir),
                        "command": r.command()} for r in runs]}
  os.makedirs(workdir, exist_ok=True)
  tmp = os.path.join(workdir, SWEEP_FILE + ".tmp")
  with open(tmp, "w") as f:
    json.dump(manifest, f, indent=1)
  os.replace(tmp, os.path.join(workdir, SWEEP_FILE))


class Launcher:
  """Runs the sweep's processes: one device-subset slot each, all of them stopped if the sweep is stopped."""

  def __init__(self, slot_envs: List[Dict[str, str]]):
    self._slots: "queue.Queue[int]" = queue.Queue()
    for i in range(len(slot_envs)):
      self._slots.put(i)
    self._envs = slot_envs
    self._children: Dict[int, subprocess.Popen] = {}
    self._lock = threading.Lock()
    self.stopping = False

  def stop(self, signum=None, frame=None) -> None:
    del frame
    self.stopping = True
    with self._lock:
      for child in self._children.values():
        child.send_signal(signal.SIGTERM if signum is None else signum)

  def execute(self, run: Run) -> dict:
    """Runs (or resumes, or re-checks) one run; returns its status line."""
    os.makedirs(run.workdir, exist_ok=True)
    lock = open(os.path.join(run.workdir, RUN_LOCK_FILE), "w")
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.close()
      return {"run": run.workdir, "status": "busy", "note": "another sweep process is running it"}
    with lock:
      if self.stopping:
        return {"run": run.workdir, "status": "interrupted", "seconds": 0}
      return self._execute_locked(run, lock.fileno())

  def _execute_locked(self, run: Run, lock_fd: int) -> dict:
    failed = os.path.join(run.workdir, FAILED_FILE)
    finished_before = os.path.exists(os.path.join(run.workdir, RESULTS_FILE))
    slot = self._slots.get()
    start = time.time()
    try:
      with open(os.path.join(run.workdir, RUN_LOG_FILE), "a") as log:
        # The child inherits the lock: a sweep started while this run is alive (even if this sweep was killed
        # with SIGKILL) leaves it alone.
        child = subprocess.Popen(run.command(), stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock_fd,),
                                 env={**os.environ, **self._envs[slot]})
        with self._lock:
          self._children[child.pid] = child
          if self.stopping:   # stopped between taking the slot and starting the child
            child.terminate()
        code = child.wait()
        with self._lock:
          del self._children[child.pid]
    finally:
      self._slots.put(slot)
    status = {"run": run.workdir, "seconds": round(time.time() - start), "devices": self._envs[slot]}
    if code == 0:
      if os.path.exists(failed):
        os.remove(failed)   # Retried: a run is failed only if its latest attempt failed.
      return {**status, "status": "skipped (finished before)" if finished_before else "done"}
    if self.stopping:
      return {**status, "status": "interrupted"}
    _record_failure(run, code, failed)
    return {**status, "status": "failed"}


def _record_failure(run: Run, code: int, path: str) -> None:
  with open(os.path.join(run.workdir, RUN_LOG_FILE)) as log:
    tail = log.read().splitlines()[-15:]
  errors = [line for line in tail if line.startswith("error:")]
  with open(path, "w") as f:
    json.dump({"exit_code": code, "error": errors[-1] if errors else f"exit code {code}: {tail[-1:]}",
               "command": run.command(), "log_tail": tail}, f, indent=1)


def run_all(runs: List[Run], launcher: Launcher, parallel: int) -> List[dict]:
  statuses = []
  with concurrent.futures.ThreadPoolExecutor(max(parallel, 1)) as pool, \
      bar(total=len(runs), desc="sweep", unit="run", leave=True) as progress:
    futures = [pool.submit(launcher.execute, r) for r in runs]
    for future in concurrent.futures.as_completed(futures):
      statuses.append(future.result())
      progress.write(json.dumps(statuses[-1]), file=sys.stdout)
      progress.update(1)
      sys.stdout.flush()
  return statuses


def _failure_error(workdir: str) -> str:
  with open(os.path.join(workdir, FAILED_FILE)) as f:
    return json.load(f).get("error", "")


def summary(runs: List[Run], statuses: List[dict]) -> str:
  by_run = {s["run"]: s["status"] for s in statuses}
  failed = [r.workdir for r in runs if os.path.exists(os.path.join(r.workdir, FAILED_FILE))]
  finished = [r for r in runs if os.path.exists(os.path.join(r.workdir, RESULTS_FILE))]
  other = {r.workdir: by_run.get(r.workdir, "not started") for r in runs
           if r not in finished and r.workdir not in failed}
  line = f"{len(finished)}/{len(runs)} runs finished"
  if failed:
    errors = [_failure_error(w) for w in failed]
    line += "; failed: " + "; ".join(f"{w} ({e})" for w, e in zip(failed, errors))
  if other:
    line += "; not finished: " + ", ".join(f"{w} ({s})" for w, s in other.items())
  return line


def main(argv):
  del argv
  for flag in (_CONFIG, _SWEEP, _WORKDIR):
    if not flag.value:
      raise app.UsageError(f"--{flag.name} is required")
  try:
    sweep = load_sweep(_SWEEP.value)
    runs = expand(_CONFIG.value, sweep, _WORKDIR.value, _ONLY.value)
    if not runs:
      raise UserError(f"no runs: --only={','.join(_ONLY.value)} names no variant of {_SWEEP.value}")
    launcher = Launcher(slot_environments(_PARALLEL.value, _DEVICES_PER_RUN.value))
  except (ValueError, FileNotFoundError, RuntimeError) as e:
    sys.exit(f"error: {e}")
  write_manifest(_WORKDIR.value, _CONFIG.value, _SWEEP.value, sweep, expand(_CONFIG.value, sweep, _WORKDIR.value))
  for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, launcher.stop)
  statuses = run_all(runs, launcher, _PARALLEL.value)
  print(summary(runs, statuses), flush=True)
  if launcher.stopping:
    sys.exit("error: the sweep was stopped; run the same command again to resume it")
  if any(os.path.exists(os.path.join(r.workdir, FAILED_FILE)) for r in runs):
    sys.exit(1)


if __name__ == "__main__":
  _COMMON_OVERRIDES.extend(a for a in sys.argv[1:] if a.startswith("--config."))
  app.run(main, argv=[a for a in sys.argv if not a.startswith("--config.")])
