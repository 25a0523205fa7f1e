r"""python -m launch.sweep --config=configs/synthetic.py --sweep=configs/sweeps/tower_ablation.py --workdir=/tmp/rec_jax/towers [--parallel=N]

Expands a sweep (configs/sweeps/*.py: `get_sweep(arg)` -> dict(variants=[dict(name, preset, overrides)], seeds,
baseline)) into one run per variant and seed, each `python -m rec_jax.main` in its own process and workdir
`<workdir>/<variant>/seed_<n>`, sequentially or `--parallel=N` at a time, each of the N on its own device subset
(launch/devices.py). `--config.a.b=v` flags given to the sweep are passed to every run, after the variant's own
overrides. `--only=a,b` runs only those variants of the sweep.

`<workdir>/sweep.json` is written by the first command on a directory and never rewritten: it lists every run of
the sweep (so launch.aggregate tables the runs not yet started too) and is what the directory holds. A later command
whose sweep differs (base config, sweep file or its argument, variants, seeds, baseline, or any run's command, the
common `--config.` overrides included) is refused before anything runs, naming what differs; `--only`, `--parallel`
and `--devices_per_run` say how to run the sweep, not what it is, and may change.

Resumable: re-running the command skips what is finished (rec_jax.main still checks that each workdir holds this
very config, so a config file edited since is refused rather than reported with stale results) and resumes
interrupted runs from their checkpoints. Killing the sweep (SIGTERM, Ctrl-C) stops its runs too; a run another
sweep process is running (its workdir's lock is held) is left alone (busy). A failed run leaves `failed.json` (exit
code, error line, last lines of its log) in its workdir and is listed in the summary, never dropped; a run with
results.json is finished, and a failed.json beside it (an earlier attempt) is removed.

Exit code 0 only when every selected run has results.json at the end; otherwise the summary line names each run
not finished (failed, busy, interrupted, not started) and the exit code is 1. Every input (flags, the sweep file's
seeds, variants and overrides, the devices asked for) is checked before any run starts: a bad one is a single line
`error: <what is wrong>` (launch/cli.py).
Then `python -m launch.aggregate --sweep_dir=<workdir>` tables the results.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import app, flags

from launch import cli
from launch.devices import check_counts, slot_environments
from launch.run_records import non_finite, non_finite_error, read_json, read_results
from launch.sweep_file import Run, check_only, expand, load_sweep
from launch.sweep_manifest import claim_directory, manifest
from rec_jax.errors import UserError
from rec_jax.progress import bar
from rec_jax.workdir import FAILED_FILE, RESULTS_FILE, RUN_LOCK_FILE, RUN_LOG_FILE


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
  flags.DEFINE_string("config", None, "Base config file (configs/*.py); a variant's preset follows a colon.",
                      flag_values=values)
  flags.DEFINE_string("sweep", None, "Sweep file (configs/sweeps/*.py[:arg]) defining get_sweep(arg).",
                      flag_values=values)
  flags.DEFINE_string("workdir", None, "Sweep directory: one sub-directory per variant and seed.", flag_values=values)
  flags.DEFINE_integer("parallel", 1, "Runs at a time, each on its own device subset.", flag_values=values)
  flags.DEFINE_integer("devices_per_run", 0, "Devices of each run (0: an even share).", flag_values=values)
  flags.DEFINE_list("only", [], "Run only these variants (names).", flag_values=values)


# `--config.a.b=v` flags given to the sweep itself (python -m launch.sweep): passed to every run.
_COMMON_OVERRIDES: List[str] = []

# --- Running -----------------------------------------------------------------------------------------------------

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
    if self.stopping:
      return {"run": run.workdir, "status": "not started", "note": "the sweep was stopped"}
    os.makedirs(run.workdir, exist_ok=True)
    lock = open(os.path.join(run.workdir, RUN_LOCK_FILE), "w")
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.close()
      return {"run": run.workdir, "status": "busy", "note": "another sweep process is running it"}
    with lock:
      if self.stopping:
        return {"run": run.workdir, "status": "not started", "note": "the sweep was stopped"}
      return self._execute_locked(run, lock.fileno())

  def _execute_locked(self, run: Run, lock_fd: int) -> dict:
    failed = os.path.join(run.workdir, FAILED_FILE)
    results = os.path.join(run.workdir, RESULTS_FILE)
    finished_before = os.path.exists(results)
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
    if os.path.exists(results):
      if os.path.exists(failed):
        os.remove(failed)   # An earlier attempt's: a run with results is finished, never also failed.
      if code == 0:
        return {**status, "status": "skipped (finished before)" if finished_before else "done"}
      # Finished before, but rec_jax.main now refuses it (its config file was edited since, ...): the results are
      # kept, the refusal reported.
      return {**status, "status": "refused on re-check", "error": _log_error(run, code)}
    if self.stopping:
      return {**status, "status": "interrupted"}
    _record_failure(run, code, failed)
    return {**status, "status": "failed"}


def _log_tail(run: Run) -> List[str]:
  try:
    with open(os.path.join(run.workdir, RUN_LOG_FILE), errors="replace") as log:
      return log.read().splitlines()[-15:]
  except FileNotFoundError:
    return []


def _log_error(run: Run, code: int) -> str:
  tail = _log_tail(run)
  errors = [line for line in tail if line.startswith("error:")]
  return errors[-1] if errors else f"exit code {code}: {tail[-1:]}"


def _record_failure(run: Run, code: int, path: str) -> None:
  with open(path, "w") as f:
    json.dump({"exit_code": code, "error": _log_error(run, code), "command": run.command(), "log_tail": _log_tail(run)},
              f, indent=1)


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
  try:
    failure = read_json(os.path.join(workdir, FAILED_FILE))
  except (UserError, OSError) as e:
    return f"unreadable {FAILED_FILE}: {e}"
  return str(failure.get("error", "")) if isinstance(failure, dict) else ""


def _results_note(workdir: str) -> Optional[str]:
  """Why launch.aggregate will table a finished run as failed (non-finite or unreadable results), or None."""
  try:
    bad = non_finite(read_results(os.path.join(workdir, RESULTS_FILE)))
  except (UserError, OSError) as e:
    return str(e)
  return non_finite_error(bad) if bad else None


NOT_FINISHED = ("failed", "busy", "interrupted", "not started")


def summary(runs: List[Run], statuses: List[dict]) -> Tuple[str, Dict[str, List[str]]]:
  """The summary line, and the runs not finished (or finished but refused on re-check) by what happened to them.
  A run with results.json is finished whatever else its directory holds; the others are what this command's
  attempt at them was (a failed.json from an earlier attempt does not make a busy run failed)."""
  by_run = {s["run"]: s for s in statuses}
  finished = [r for r in runs if os.path.exists(os.path.join(r.workdir, RESULTS_FILE))]
  groups: Dict[str, List[str]] = {}
  for r in runs:
    status = by_run.get(r.workdir, {}).get("status", "not started")
    if r in finished:
      if status == "refused on re-check":
        groups.setdefault(status, []).append(f"{r.workdir} ({by_run[r.workdir]['error']})")
      note = _results_note(r.workdir)
      if note:
        groups.setdefault("tabled as failed", []).append(f"{r.workdir} ({note})")
    elif status == "failed":
      groups.setdefault("failed", []).append(f"{r.workdir} ({_failure_error(r.workdir)})")
    else:
      status = status if status in NOT_FINISHED else "not started"
      groups.setdefault(status, []).append(r.workdir)
  line = f"{len(finished)}/{len(runs)} runs finished"
  for what in (*NOT_FINISHED, "refused on re-check", "tabled as failed"):
    if groups.get(what):
      line += f"; {what}: " + ", ".join(groups[what])
  return line, groups


@contextlib.contextmanager
def _stopping_on_signals(launcher: Launcher):
  """SIGTERM and SIGINT stop the sweep and its runs; the previous handlers are restored after (in-process use)."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  previous = {s: signal.signal(s, launcher.stop) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def sweep_main(config: Optional[str], spec: Optional[str], workdir: Optional[str], parallel: int = 1,
               devices_per_run: int = 0, only: Sequence[str] = (), only_given: bool = False,
               overrides: Sequence[str] = ()) -> int:
  """The command: every input checked (a UserError before anything runs), the directory claimed, the runs run;
  the exit code (0: every selected run finished)."""
  for name, value in (("config", config), ("sweep", spec), ("workdir", workdir)):
    if not value:
      raise UserError(f"--{name} is required")
  check_counts(parallel, devices_per_run)
  config_path = config.partition(":")[0]
  if not os.path.isfile(config_path):
    raise UserError(f"config file {config_path!r} " + ("is not a file" if os.path.exists(config_path)
                                                        else "does not exist"))
  sweep = load_sweep(spec)
  check_only(only, only_given, sweep, spec)
  runs = expand(config, sweep, workdir, only, overrides)
  launcher = Launcher(slot_environments(parallel, devices_per_run))
  claim_directory(workdir, manifest(workdir, config, spec, sweep, expand(config, sweep, workdir, (), overrides)))
  with _stopping_on_signals(launcher):
    statuses = run_all(runs, launcher, parallel)
  line, groups = summary(runs, statuses)
  print(line, flush=True)
  if launcher.stopping:
    print("error: the sweep was stopped; run the same command again to resume it", file=sys.stderr, flush=True)
    return 1
  problems = []
  unfinished = {what: len(groups[what]) for what in NOT_FINISHED if groups.get(what)}
  if unfinished:
    counts = ", ".join(f"{n} {what}" for what, n in unfinished.items())
    problems.append(f"{sum(unfinished.values())} of {len(runs)} runs not finished ({counts})")
  if groups.get("refused on re-check"):
    problems.append(f"{len(groups['refused on re-check'])} finished run(s) refused on re-check by rec_jax.main")
  if problems:
    print(f"error: {'; '.join(problems)}; the summary line above names them", file=sys.stderr, flush=True)
    return 1
  return 0


def run(values: flags.FlagValues, argv: Sequence[str], overrides: Sequence[str]) -> int:
  cli.no_positional_arguments(argv)
  return sweep_main(values.config, values.sweep, values.workdir, values.parallel, values.devices_per_run,
                    values.only, values["only"].present > 0, overrides)


def split_overrides(argv: Sequence[str]) -> Tuple[List[str], List[str]]:
  """(the `--config.a.b=v` flags of a command line, the rest)."""
  overrides = [a for a in argv if a.startswith("--config.")]
  return overrides, [a for a in argv if not a.startswith("--config.")]


def invoke(argv: Sequence[str]) -> int:
  """`python -m launch.sweep ARGV...` in this process: its exit code; errors printed as the CLI prints them."""
  overrides, rest = split_overrides(argv)
  return cli.invoke(define_flags, lambda values, left: run(values, left, overrides), rest, "launch.sweep")


def main(argv):
  sys.exit(cli.reporting(lambda: run(flags.FLAGS, argv, _COMMON_OVERRIDES)))


if __name__ == "__main__":
  define_flags()   # Only here: importing the module (tests, rec_jax.main beside it) defines no global flags.
  _overrides, _argv = split_overrides(sys.argv)
  _COMMON_OVERRIDES.extend(_overrides)
  app.run(main, argv=_argv, flags_parser=cli.parse_flags)
