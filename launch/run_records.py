"""The runs of a sweep directory (launch/sweep.py) as records for launch.aggregate's tables: every run sweep.json
lists (or, without one, every `<variant>/seed_<n>/` found), each done (results.json), failed (failed.json),
incomplete (neither) or pending (no directory), with its task, model, metrics and error."""

from __future__ import annotations

import glob
import json
import os
from typing import List, Optional

from rec_jax.errors import UserError
from rec_jax.workdir import CONFIG_FILE, FAILED_FILE, RESULTS_FILE, SWEEP_FILE, run_dir

STATUSES = ("done", "failed", "incomplete", "pending")
_REASONS = {"incomplete": "no results.json (interrupted or running)", "pending": "not started (no run directory)"}


def _read_json(path: str):
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise UserError(f"{path} is not valid JSON: {e}") from e


def read_sweep_file(sweep_dir: str) -> Optional[dict]:
  """`<sweep_dir>/sweep.json` checked to list its runs as dicts with a variant and a seed, or None without one."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if not os.path.exists(path):
    return None
  spec = _read_json(path)
  if not isinstance(spec, dict) or not isinstance(spec.get("runs"), list):
    raise UserError(f"{path}: expected an object with runs=[{{variant, seed, workdir}}, ...]")
  for i, run in enumerate(spec["runs"]):
    if not isinstance(run, dict) or "variant" not in run or "seed" not in run:
      raise UserError(f"{path}: runs[{i}] needs a variant and a seed, got {run!r}")
  return spec


def _expected_runs(sweep_dir: str) -> List[tuple]:
  """(variant, seed, run_dir) of every run: exactly sweep.json's runs in its variant order when the sweep wrote one
  (so a run that never started is still listed), else the run directories found, by variant and numeric seed."""
  spec = read_sweep_file(sweep_dir)
  if spec is None:
    found = glob.glob(os.path.join(sweep_dir, "*", "seed_*"))
    runs = [(os.path.basename(os.path.dirname(d)), int(d.rsplit("_", 1)[1]), d) for d in found
            if os.path.isdir(d) and d.rsplit("_", 1)[1].isdigit()]
    return sorted(runs, key=lambda run: run[:2])
  order = list(spec.get("variants") or []) + [r["variant"] for r in spec["runs"]]
  rank = {variant: order.index(variant) for variant in order}
  runs = [(r["variant"], int(r["seed"]),
           os.path.join(sweep_dir, r["workdir"]) if r.get("workdir") else run_dir(sweep_dir, r["variant"], r["seed"]))
          for r in spec["runs"]]
  return sorted(runs, key=lambda run: rank[run[0]])   # Stable: seeds stay in sweep.json's order.


def _failure_reason(failure: dict) -> str:
  """The error launch.sweep picked out, else the log's last `error:` line (rec_jax.main's one-line errors), else
  its last line, else the exit code: failed.json files from before the sweep recorded `error` still read."""
  if failure.get("error"):
    return failure["error"]
  tail = failure.get("log_tail") or []
  errors = [line for line in tail if line.startswith("error:")] or tail[-1:]
  return errors[-1] if errors else f"exit code {failure.get('exit_code')}"


def read_run(variant: str, seed: int, run_dir: str) -> dict:
  """One run's record; status done (results.json), failed (failed.json), incomplete (neither) or pending (no dir)."""
  record = {"variant": variant, "seed": seed, "status": "pending", "task": None, "model": None, "metrics": {},
            "steps_per_s": None, "params": None, "error": _REASONS["pending"]}
  if not os.path.isdir(run_dir):
    return record
  record.update(status="incomplete", error=_REASONS["incomplete"])
  if os.path.exists(os.path.join(run_dir, CONFIG_FILE)):
    config = _read_json(os.path.join(run_dir, CONFIG_FILE))
    record.update(task=config.get("task"), model=(config.get("model") or {}).get("name"))
  if os.path.exists(os.path.join(run_dir, RESULTS_FILE)):
    results = _read_json(os.path.join(run_dir, RESULTS_FILE))
    record.update(status="done", error=None, metrics=results.get("metrics", {}),
                  steps_per_s=results.get("train_steps_per_s"),
                  params=(results.get("parameters") or {}).get("trainable"))
  elif os.path.exists(os.path.join(run_dir, FAILED_FILE)):
    record.update(status="failed", error=_failure_reason(_read_json(os.path.join(run_dir, FAILED_FILE))))
  return record


def collect(sweep_dir: str) -> List[dict]:
  """One record per run: variant, seed, status, task and model (from config.json), metrics and extras."""
  return [read_run(variant, seed, run_dir) for variant, seed, run_dir in _expected_runs(sweep_dir)]
