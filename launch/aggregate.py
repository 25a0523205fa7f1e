r"""python -m launch.aggregate --sweep_dir=/tmp/rec_jax/zoo [--metrics=auc,auc/cold,logloss]

Reads every run of a sweep (`<sweep_dir>/<variant>/seed_<n>/results.json`, or `failed.json`) and writes
`<sweep_dir>/results.csv` (one row per run) and `<sweep_dir>/results.md`: one table per task (their metrics differ:
`ndcg@10` of ctr ranks a user's impressions, that of next_item the whole catalogue), one row per variant with the
mean ± std over seeds of each metric, training steps/s and trainable parameters. A failed run is a row of its own,
with its error. `--metrics` replaces the per-task metric lists by one list for every table.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from typing import Dict, List, Sequence

import numpy as np
from absl import app, flags

_SWEEP_DIR = flags.DEFINE_string("sweep_dir", None, "Directory written by launch.sweep.")
_METRICS = flags.DEFINE_list("metrics", [], "Metrics (results.json names) to table; default: TASK_METRICS.")

# The columns of each task's table by default.
TASK_METRICS = {
    "ctr": ("auc", "auc/cold", "logloss", "ndcg@10", "oracle_auc"),
    "search": ("auc", "auc/cold", "logloss", "ndcg@10", "oracle_ndcg@10"),
    "rating": ("rmse", "mae", "rmse/cold"),
    "retrieval": ("hit@10", "ndcg@10", "mrr@10", "hit@50", "hit@50/cold"),
    "next_item": ("hit@10", "ndcg@10", "mrr@10", "hit@50", "hit@50/cold"),
}


def collect(sweep_dir: str) -> List[dict]:
  """One record per run: variant, seed, status, task and model (from config.json), metrics and extras."""
  records = []
  for run_dir in sorted(glob.glob(os.path.join(sweep_dir, "*", "seed_*"))):
    variant, seed = os.path.basename(os.path.dirname(run_dir)), int(run_dir.rsplit("_", 1)[1])
    record = {"variant": variant, "seed": seed, "status": "incomplete", "metrics": {}}
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(config_path):
      with open(config_path) as f:
        config = json.load(f)
      record.update(task=config.get("task"), model=config["model"]["name"])
    if os.path.exists(os.path.join(run_dir, "results.json")):
      with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
      record.update(status="done", metrics=results["metrics"], steps_per_s=results.get("train_steps_per_s"),
                    params=results.get("parameters", {}).get("trainable"))
    elif os.path.exists(os.path.join(run_dir, "failed.json")):
      with open(os.path.join(run_dir, "failed.json")) as f:
        failure = json.load(f)
      errors = [line for line in failure["log_tail"] if line.startswith("error:")] or failure["log_tail"][-1:]
      record.update(status="failed", error=errors[-1] if errors else f"exit code {failure['exit_code']}")
    records.append(record)
  return records


def _mean_std(values: Sequence[float]) -> str:
  values = [v for v in values if v is not None and np.isfinite(v)]
  if not values:
    return "–"
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def markdown_tables(records: List[dict], metrics: Sequence[str] = ()) -> str:
  """One table per task, in the order tasks first appear (a run that failed before writing its config: "?")."""
  tasks: Dict[str, List[dict]] = {}
  for r in records:
    tasks.setdefault(r.get("task") or "?", []).append(r)
  return "\n".join(f"### {task}\n\n" + markdown_table(runs, metrics or TASK_METRICS.get(task, ()))
                   for task, runs in tasks.items())


def markdown_table(records: List[dict], metrics: Sequence[str]) -> str:
  head = ["variant", "task", "model", "seeds", *metrics, "steps/s", "params"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  variants: Dict[str, List[dict]] = {}
  for r in records:
    variants.setdefault(r["variant"], []).append(r)
  for name, runs in variants.items():
    done = [r for r in runs if r["status"] == "done"]
    if done:
      cells = [name, done[0].get("task", ""), done[0].get("model", ""), str(len(done))]
      cells += [_mean_std([r["metrics"].get(m) for r in done]) for m in metrics]
      speed = [r["steps_per_s"] for r in done if r.get("steps_per_s")]
      cells += [f"{np.mean(speed):.1f}" if speed else "–", f"{done[0].get('params') or 0:,}"]
      lines.append("| " + " | ".join(cells) + " |")
    for r in runs:
      if r["status"] != "done":
        reason = r.get("error", "no results.json (interrupted or running)")
        lines.append(f"| {name} (seed {r['seed']}) | **{r['status']}**: {reason} |" + " |" * (len(head) - 2))
  return "\n".join(lines) + "\n"


def write_tables(sweep_dir: str, metrics: Sequence[str] = ()) -> List[dict]:
  records = collect(sweep_dir)
  if not records:
    raise FileNotFoundError(f"no runs (<variant>/seed_<n>/) under {sweep_dir}")
  csv_metrics = list(metrics) or sorted({m for r in records for m in r["metrics"]})
  with open(os.path.join(sweep_dir, "results.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["variant", "seed", "status", "task", "model", *csv_metrics, "steps_per_s", "params", "error"])
    for r in records:
      writer.writerow([r["variant"], r["seed"], r["status"], r.get("task", ""), r.get("model", ""),
                       *[r["metrics"].get(m, "") for m in csv_metrics], r.get("steps_per_s", ""), r.get("params", ""),
                       r.get("error", "")])
  with open(os.path.join(sweep_dir, "results.md"), "w") as f:
    f.write(markdown_tables(records, metrics))
  return records


def main(argv):
  del argv
  if not _SWEEP_DIR.value:
    raise app.UsageError("--sweep_dir is required")
  try:
    write_tables(_SWEEP_DIR.value, _METRICS.value)
  except FileNotFoundError as e:
    sys.exit(f"error: {e}")
  with open(os.path.join(_SWEEP_DIR.value, "results.md")) as f:
    print(f.read())


if __name__ == "__main__":
  app.run(main)
