r"""python -m launch.sweep --config=configs/zoo.py --sweep=configs/sweeps/zoo.py --workdir=/tmp/rec_jax/zoo

Expands a sweep (configs/sweeps/*.py: `get_sweep()` -> dict(variants=[dict(name, preset, overrides)], seeds)) into
one run per variant and seed, each `python -m rec_jax.main` in its own process and workdir
`<workdir>/<variant>/seed_<n>`, sequentially or `--parallel=N` at a time. Re-running resumes: a finished run is
reported without retraining (after rec_jax.main checked its config is unchanged), an interrupted one resumes from
its checkpoint. A failed run
leaves `failed.json` (exit code, last lines of its log) in its workdir and is listed in the summary, never dropped.
Then `python -m launch.aggregate --sweep_dir=<workdir>` tables the results.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

from absl import app, flags

_CONFIG = flags.DEFINE_string("config", None, "Base config file (configs/*.py); a variant's preset follows a colon.")
_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file (configs/sweeps/*.py[:arg]) defining get_sweep(arg).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory: one sub-directory per variant and seed.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.")
_ONLY = flags.DEFINE_list("only", [], "Run only these variants (names).")

LOG_FILE, FAILED_FILE = "run.log", "failed.json"
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
  path, _, arg = spec.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"sweep file {path!r} does not exist")
  module_spec = importlib.util.spec_from_file_location("sweep_definition", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not callable(getattr(module, "get_sweep", None)):
    raise ValueError(f"sweep file {path!r} defines no get_sweep(arg)")
  sweep = module.get_sweep(arg or None)
  if not isinstance(sweep, dict) or not sweep.get("variants"):
    raise ValueError(f"{path}: get_sweep() must return dict(variants=[dict(name, preset, overrides)], seeds)")
  unnamed = [v for v in sweep["variants"] if not isinstance(v, dict) or "name" not in v]
  if unnamed:
    raise ValueError(f"{path}: every variant needs a name, got {unnamed[0]!r}")
  names = [v["name"] for v in sweep["variants"]]
  if len(set(names)) != len(names):
    raise ValueError(f"{path}: variant names repeat: {names}")
  return sweep


def expand(config: str, sweep: dict, workdir: str, only=()) -> List[Run]:
  runs = []
  for variant in sweep["variants"]:
    if only and variant["name"] not in only:
      continue
    preset = variant.get("preset", "")
    for seed in sweep.get("seeds", (0,)):
      runs.append(Run(variant["name"], int(seed), f"{config}:{preset}" if preset else config,
                      dict(variant.get("overrides", {})), os.path.join(workdir, variant["name"], f"seed_{seed}")))
  return runs


def execute(run: Run) -> dict:
  """Runs (or resumes) one run in a child process; returns its status. A finished run is started too: rec_jax.main
  then only checks that its workdir holds this very config (a sweep edited since would be refused, not silently
  reported with stale results) and reports it without retraining."""
  os.makedirs(run.workdir, exist_ok=True)
  failed = os.path.join(run.workdir, FAILED_FILE)
  if os.path.exists(failed):
    os.remove(failed)   # Retried: a run is failed only if its latest attempt failed.
  start = time.time()
  with open(os.path.join(run.workdir, LOG_FILE), "a") as log:
    code = subprocess.call(run.command(), stdout=log, stderr=subprocess.STDOUT)
  status = {"run": run.workdir, "status": "done" if code == 0 else "failed", "seconds": round(time.time() - start)}
  if code:
    with open(os.path.join(run.workdir, LOG_FILE)) as log:
      tail = log.read().splitlines()[-15:]
    with open(failed, "w") as f:
      json.dump({"exit_code": code, "command": run.command(), "log_tail": tail}, f, indent=1)
  return status


def main(argv):
  del argv
  for flag in (_CONFIG, _SWEEP, _WORKDIR):
    if not flag.value:
      raise app.UsageError(f"--{flag.name} is required")
  try:
    runs = expand(_CONFIG.value, load_sweep(_SWEEP.value), _WORKDIR.value, _ONLY.value)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  if not runs:
    sys.exit(f"error: no runs: --only={','.join(_ONLY.value)} names no variant of {_SWEEP.value}")
  with concurrent.futures.ThreadPoolExecutor(max(_PARALLEL.value, 1)) as pool:
    for status in pool.map(execute, runs):
      print(json.dumps(status), flush=True)
  failed = [r.workdir for r in runs if os.path.exists(os.path.join(r.workdir, FAILED_FILE))]
  print(f"{len(runs) - len(failed)}/{len(runs)} runs finished" + (f"; failed: {failed}" if failed else ""))
  if failed:
    sys.exit(1)


if __name__ == "__main__":
  _COMMON_OVERRIDES.extend(a for a in sys.argv[1:] if a.startswith("--config."))
  app.run(main, argv=[a for a in sys.argv if not a.startswith("--config.")])
