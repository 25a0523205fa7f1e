"""The runs of a sweep directory (launch/sweep.py) as records for launch.aggregate's tables: every run sweep.json
lists (or, without one, every `<variant>/seed_<n>/` found), each done (results.json), failed (failed.json, or a
results.json whose metrics are not all finite), incomplete (neither) or pending (no directory), with its task,
model, metrics and error.

Every file is checked as it is read: one that is not valid JSON or holds the wrong types is a `UserError` naming
the file. A results.json decides: a failed.json beside it is stale (an earlier attempt) and is not even read.
"""

from __future__ import annotations

import glob
import json
import math
import numbers
import os
from typing import Dict, List, Optional

from rec_jax.errors import UserError
from rec_jax.workdir import CONFIG_FILE, FAILED_FILE, RESULTS_FILE, SWEEP_FILE, run_dir

STATUSES = ("done", "failed", "incomplete", "pending")
_REASONS = {"incomplete": "no results.json (interrupted or running)", "pending": "not started (no run directory)"}


def read_json(path: str):
  """The JSON value of `path`; a file that is not JSON (cut short, binary, hand-edited) is a UserError naming it."""
  with open(path, "rb") as f:
    data = f.read()
  try:
    return json.loads(data.decode("utf-8"))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise UserError(f"{path} is not valid JSON ({e})") from None


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _expect(ok: bool, path: str, what: str, value) -> None:
  if not ok:
    raise UserError(f"{path}: {what}, got {value!r:.80}")


def read_sweep_file(sweep_dir: str) -> Optional[dict]:
  """`<sweep_dir>/sweep.json` checked to list its runs as dicts with a variant and a seed, or None without one."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if not os.path.exists(path):
    return None
  spec = read_json(path)
  _expect(isinstance(spec, dict) and isinstance(spec.get("runs"), list), path,
          "expected an object with runs=[{variant, seed, workdir}, ...]", spec)
  for i, run in enumerate(spec["runs"]):
    _expect(isinstance(run, dict) and "variant" in run and "seed" in run, path,
            f"runs[{i}] needs a variant and a seed", run)
    _expect(isinstance(run["variant"], str) and run["variant"], path, f"runs[{i}].variant must be a name",
            run["variant"])
    _expect(_is_int(run["seed"]), path, f"runs[{i}].seed must be an integer", run["seed"])
    _expect(isinstance(run.get("workdir", ""), str), path, f"runs[{i}].workdir must be a path", run.get("workdir"))
    _expect(isinstance(run.get("command", []), list) and all(isinstance(a, str) for a in run.get("command", [])),
            path, f"runs[{i}].command must be a list of strings", run.get("command"))
  variants = spec.get("variants")
  _expect(variants is None or (isinstance(variants, list) and all(isinstance(v, str) for v in variants)), path,
          "variants must be a list of names", variants)
  _expect(spec.get("baseline") is None or isinstance(spec["baseline"], str), path, "baseline must be a name",
          spec.get("baseline"))
  seeds = spec.get("seeds")
  _expect(seeds is None or (isinstance(seeds, list) and all(_is_int(s) for s in seeds)), path,
          "seeds must be a list of integers", seeds)
  return spec


def _expected_runs(sweep_dir: str) -> List[tuple]:
  """(variant, seed, run_dir) of every run: exactly sweep.json's runs in its variant order when the sweep wrote one
  (so a run that never started is still listed), else the run directories found, by variant and numeric seed."""
  spec = read_sweep_file(sweep_dir)
  if spec is None:
    found = glob.glob(os.path.join(glob.escape(sweep_dir), "*", "seed_*"))
    runs = [(os.path.basename(os.path.dirname(d)), int(d.rsplit("_", 1)[1]), d) for d in found
            if os.path.isdir(d) and d.rsplit("_", 1)[1].isdigit()]
    return sorted(runs, key=lambda run: run[:2])
  order = list(spec.get("variants") or []) + [r["variant"] for r in spec["runs"]]
  rank = {variant: order.index(variant) for variant in order}
  runs = [(r["variant"], int(r["seed"]),
           os.path.join(sweep_dir, r["workdir"]) if r.get("workdir") else run_dir(sweep_dir, r["variant"], r["seed"]))
          for r in spec["runs"]]
  return sorted(runs, key=lambda run: rank[run[0]])   # Stable: seeds stay in sweep.json's order.


def read_config(path: str) -> dict:
  """A run's config.json: its task and model name (all a table needs), checked."""
  config = read_json(path)
  _expect(isinstance(config, dict), path, "expected the run's config object", config)
  _expect(config.get("task") is None or isinstance(config["task"], str), path, "task must be a name",
          config.get("task"))
  model = config.get("model")
  _expect(model is None or (isinstance(model, dict) and (model.get("name") is None or isinstance(model["name"], str))),
          path, "model must be an object with a name", model)
  return config


def read_results(path: str) -> dict:
  """A run's results.json, checked: an object whose `metrics` map names to numbers (NaN and inf included: a
  diverged run's, named by `non_finite`); the speed and parameter count, when present, are numbers."""
  results = read_json(path)
  _expect(isinstance(results, dict), path, "expected an object with metrics={name: value}", results)
  metrics = results.get("metrics")
  _expect(isinstance(metrics, dict), path, "metrics must be an object {name: value}", metrics)
  for name, value in metrics.items():
    _expect(value is None or _is_number(value), path, f"metrics[{name!r}] must be a number", value)
  speed = results.get("train_steps_per_s")
  _expect(speed is None or _is_number(speed), path, "train_steps_per_s must be a number", speed)
  params = results.get("parameters")
  _expect(params is None or (isinstance(params, dict) and (params.get("trainable") is None
                                                           or _is_int(params["trainable"]))),
          path, "parameters must be an object with an integer trainable", params)
  return results


def _finite(value) -> bool:
  return value is not None and math.isfinite(value)


def non_finite(results: dict) -> Dict[str, object]:
  """The metrics that make a run's results.json no result: the metric it was judged by (`best_metric`, written by
  rec_jax since it refuses to report a diverged run) when NaN, infinite, null or absent; for a results.json without
  `best_metric`, any non-finite metric. Other metrics may be NaN where they are undefined (a slice with one class)."""
  metrics, judged = results["metrics"], results.get("best_metric")
  if isinstance(judged, (list, tuple)) and judged and isinstance(judged[0], str):
    return {} if _finite(metrics.get(judged[0])) else {judged[0]: metrics.get(judged[0])}
  return {name: value for name, value in metrics.items() if not _finite(value)}


def non_finite_error(bad: Dict[str, object]) -> str:
  return "non-finite metrics in results.json: " + ", ".join(f"{name}={value}" for name, value in bad.items())


def read_failure(path: str) -> dict:
  """A failed.json (launch/sweep.py), checked."""
  failure = read_json(path)
  _expect(isinstance(failure, dict), path, "expected an object with exit_code, error and log_tail", failure)
  _expect(failure.get("error") is None or isinstance(failure["error"], str), path, "error must be a string",
          failure.get("error"))
  tail = failure.get("log_tail")
  _expect(tail is None or (isinstance(tail, list) and all(isinstance(line, str) for line in tail)), path,
          "log_tail must be a list of lines", tail)
  _expect(failure.get("exit_code") is None or _is_int(failure["exit_code"]), path, "exit_code must be an integer",
          failure.get("exit_code"))
  return failure


def _failure_reason(failure: dict) -> str:
  """The error launch.sweep picked out, else the log's last `error:` line (rec_jax.main's one-line errors), else
  its last line, else the exit code: failed.json files from before the sweep recorded `error` still read."""
  if failure.get("error"):
    return failure["error"]
  tail = failure.get("log_tail") or []
  errors = [line for line in tail if line.startswith("error:")] or tail[-1:]
  return errors[-1] if errors else f"exit code {failure.get('exit_code')}"


def read_run(variant: str, seed: int, run_dir: str) -> dict:
  """One run's record; status done (results.json with finite metrics), failed (failed.json, or non-finite
  results), incomplete (neither) or pending (no dir)."""
  record = {"variant": variant, "seed": seed, "status": "pending", "task": None, "model": None, "metrics": {},
            "steps_per_s": None, "params": None, "error": _REASONS["pending"]}
  if not os.path.isdir(run_dir):
    return record
  record.update(status="incomplete", error=_REASONS["incomplete"])
  if os.path.exists(os.path.join(run_dir, CONFIG_FILE)):
    config = read_config(os.path.join(run_dir, CONFIG_FILE))
    record.update(task=config.get("task"), model=(config.get("model") or {}).get("name"))
  if os.path.exists(os.path.join(run_dir, RESULTS_FILE)):
    results = read_results(os.path.join(run_dir, RESULTS_FILE))
    bad = non_finite(results)
    if bad:   # A diverged run (from before rec_jax.main refused to write one): never averaged, never dropped.
      record.update(status="failed", error=non_finite_error(bad))
    else:   # A metric undefined for this run (NaN: e.g. auc of a one-class slice) is left out of its averages.
      record.update(status="done", error=None,
                    metrics={k: v for k, v in results["metrics"].items() if _finite(v)},
                    steps_per_s=results.get("train_steps_per_s"),
                    params=(results.get("parameters") or {}).get("trainable"))
  elif os.path.exists(os.path.join(run_dir, FAILED_FILE)):
    record.update(status="failed", error=_failure_reason(read_failure(os.path.join(run_dir, FAILED_FILE))))
  return record


def collect(sweep_dir: str) -> List[dict]:
  """One record per run: variant, seed, status, task and model (from config.json), metrics and extras."""
  return [read_run(variant, seed, run_dir) for variant, seed, run_dir in _expected_runs(sweep_dir)]
