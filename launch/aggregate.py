r"""python -m launch.aggregate --sweep_dir=/tmp/rec_jax/towers [--baseline=text+cf+cross] [--variants=a,b,c] \
    [--metrics=auc,auc/cold] [--alpha=0.05]

Turns a sweep (launch.sweep: `<sweep_dir>/<variant>/seed_<n>/`, listed in `<sweep_dir>/sweep.json`) into the tables
of a paper: `runs.csv` (one row per run), `results.csv` (one row per variant: mean, std and paired p-value of each
metric), `results.md` and `results.tex` (one table per task, since the tasks' metrics differ: `ndcg@10` of ctr ranks
a user's impressions, that of next_item the whole catalogue). A cell is the mean ± std over seeds; the best mean of
a column is bold; † marks a paired t-test against the baseline with p < alpha. A run that failed, was interrupted or
never started keeps a row of its own with its reason, so a table never silently loses a run; a run whose
results.json holds a NaN or infinite metric is such a failed run (launch/run_records.py), never averaged.

A bad input (an unknown --metrics/--variants/--baseline name, --alpha outside (0, 1), a sweep directory that does
not exist, a damaged sweep.json, config.json, results.json or failed.json) is one line `error: <what, which file>`
and exit code 1 (launch/cli.py).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import warnings
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import numpy as np
from absl import app, flags

from launch import cli, latex_table
from launch.run_records import STATUSES, collect, read_sweep_file
from rec_jax.errors import UserError
from rec_jax.workdir import RESULTS_CSV, RESULTS_MD, RESULTS_TEX, RUNS_CSV, SWEEP_FILE

if TYPE_CHECKING:
  from rec_jax.tasks.task import MetricSpec


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
  flags.DEFINE_string("sweep_dir", None, "Directory written by launch.sweep.", flag_values=values)
  flags.DEFINE_list("metrics", [], "Metrics (results.json names) to table; default: the task's "
                    "(its MetricSpec.table, rec_jax/tasks/).", flag_values=values)
  flags.DEFINE_string("baseline", None, "Variant the others are tested against; default: sweep.json's.",
                      flag_values=values)
  flags.DEFINE_list("variants", [], "Table only these variants, in this order; default: all.", flag_values=values)
  flags.DEFINE_float("alpha", 0.05, "Significance level of the paired t-test (the † mark).", flag_values=values)


DIGITS = 4   # Decimals shown; the best of a column is decided on the shown value, so equal-looking cells tie.


# --- Choosing rows, columns and the baseline ---------------------------------------------------------------------

def _variant_names(records: List[dict]) -> List[str]:
  return list(dict.fromkeys(r["variant"] for r in records))


def select_variants(records: List[dict], variants: Sequence[str]) -> List[dict]:
  """The records of `variants` in that order (all records without a selection)."""
  if not variants:
    return records
  valid = _variant_names(records)
  unknown = [v for v in variants if v not in valid]
  if unknown:
    raise UserError(f"--variants: unknown variant(s) {unknown}; valid: {', '.join(valid)}")
  return [r for v in dict.fromkeys(variants) for r in records if r["variant"] == v]


def check_metrics(records: List[dict], metrics: Sequence[str]) -> None:
  available = sorted({m for r in records for m in r["metrics"]})
  unknown = [m for m in metrics if m not in available]
  if unknown:
    raise UserError(f"--metrics: no run has metric(s) {unknown}; available: {', '.join(available) or 'none'}")


def resolve_baseline(records: List[dict], baseline: Optional[str], sweep_dir: str) -> Optional[str]:
  """`baseline` if given (it must name a tabled variant); else sweep.json's, if that variant is tabled; else None."""
  valid = _variant_names(records)
  if baseline:
    if baseline not in valid:
      raise UserError(f"--baseline={baseline} names no variant of the table; valid: {', '.join(valid)}")
    return baseline
  spec = read_sweep_file(sweep_dir) or {}
  return spec.get("baseline") if spec.get("baseline") in valid else None


# --- Statistics --------------------------------------------------------------------------------------------------

def metric_spec(task: str) -> Optional["MetricSpec"]:
  """The task's metric facts (rec_jax/tasks/<task>.py), or None for a task this checkout does not know."""
  # pylint: disable-next=import-outside-toplevel
  from rec_jax.tasks import TASKS   # Imports JAX: only once there is a table to make, so errors come fast.
  try:
    return TASKS.get(task).TASK.metrics
  except KeyError:
    return None


def lower_is_better(metric: str, task: str) -> bool:
  """Whether smaller is better for `metric` in the table of `task` (of any known task, when that one is unknown)."""
  from rec_jax.tasks import TASKS  # pylint: disable=import-outside-toplevel  (see metric_spec)
  spec = metric_spec(task)
  if spec is not None:
    return spec.lower_is_better(metric)
  return any(TASKS.get(t).TASK.metrics.lower_is_better(metric) for t in TASKS)


def _finite(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value)


def seed_values(runs: List[dict], metric: str) -> Dict[int, float]:
  """seed -> value of `metric` over the done runs that report it finite."""
  return {r["seed"]: float(r["metrics"][metric]) for r in runs
          if r["status"] == "done" and _finite(r["metrics"].get(metric))}


def paired_p_value(values: Dict[int, float], baseline: Dict[int, float]) -> Optional[float]:
  """Two-sided paired t-test over the seeds both have: a seed's data split and init are shared by every variant,
  so pairing removes the seed-to-seed spread from the comparison. None (untestable) with fewer than 2 pairs."""
  seeds = sorted(values.keys() & baseline.keys())
  if len(seeds) < 2:
    return None
  ours, theirs = [values[s] for s in seeds], [baseline[s] for s in seeds]
  if all(a == b for a, b in zip(ours, theirs)):
    return 1.0   # No difference at all; scipy's t = 0/0 would give nan.
  from scipy import stats  # pylint: disable=import-outside-toplevel  (0.7 s: only when there is a test to do)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)   # Constant differences: t = inf, p = 0, said loudly.
    return float(stats.ttest_rel(ours, theirs).pvalue)


# --- The table model shared by every writer ----------------------------------------------------------------------

@dataclasses.dataclass
class Cell:
  """One metric of one variant over its done seeds."""
  n: int
  mean: Optional[float] = None
  std: Optional[float] = None   # Sample std (ddof=1); None with fewer than 2 seeds.
  p: Optional[float] = None     # Paired t-test against the baseline; None for the baseline itself or untestable.
  significant: bool = False
  best: bool = False

  def mean_text(self) -> str:
    return f"{self.mean:.{DIGITS}f}"

  def std_text(self) -> str:
    return f"{self.std:.{DIGITS}f}"


@dataclasses.dataclass
class VariantRow:
  variant: str
  task: str
  model: Optional[str]
  runs: List[dict]              # Every run of the variant, whatever its status.
  cells: Dict[str, Cell]
  is_baseline: bool = False

  @property
  def done(self) -> List[dict]:
    return [r for r in self.runs if r["status"] == "done"]

  @property
  def not_done(self) -> List[dict]:
    return [r for r in self.runs if r["status"] != "done"]

  @property
  def steps_per_s(self) -> Optional[float]:
    speeds = [r["steps_per_s"] for r in self.done if _finite(r.get("steps_per_s"))]
    return float(np.mean(speeds)) if speeds else None

  @property
  def params(self) -> Optional[int]:
    return next((r["params"] for r in self.done if r.get("params") is not None), None)


@dataclasses.dataclass
class TaskTable:
  task: str
  metrics: List[str]
  rows: List[VariantRow]
  baseline: Optional[str]
  alpha: float

  def run_counts(self) -> Dict[str, int]:
    runs = [r for row in self.rows for r in row.runs]
    return {s: sum(r["status"] == s for r in runs) for s in STATUSES}

  def seeds_phrase(self, dash: str = "–") -> str:
    """How many seeds a ± is over: "3 seeds", or "1–3 seeds" when variants finished different numbers."""
    counts = [len(row.done) for row in self.rows if row.done] or [0]
    fewest, most = min(counts), max(counts)
    return f"{most} seed" + "s" * (most != 1) if fewest == most else f"{fewest}{dash}{most} seeds"


def is_reference(metric: str) -> bool:
  """`oracle_*`: the data's ceiling (the synthetic shop's true click probability), the same for every model of a
  table, so it is neither a winner to bold nor a difference to test."""
  return metric.startswith("oracle_")


def _cell(runs: List[dict], metric: str, baseline_runs: Optional[List[dict]], alpha: float) -> Cell:
  values = seed_values(runs, metric)
  cell = Cell(n=len(values))
  if values:
    cell.mean = float(np.mean(list(values.values())))
    cell.std = float(np.std(list(values.values()), ddof=1)) if len(values) > 1 else None
  if baseline_runs is not None and not is_reference(metric):
    cell.p = paired_p_value(values, seed_values(baseline_runs, metric))
    cell.significant = cell.p is not None and cell.p < alpha
  return cell


def _mark_best(rows: List[VariantRow], metric: str) -> None:
  """Bolds the best shown mean of `metric`, ties included; only when at least two variants compete."""
  shown = [(cell, float(cell.mean_text())) for cell in (row.cells[metric] for row in rows) if cell.n]
  if len(shown) < 2 or is_reference(metric):
    return
  best = (min if lower_is_better(metric, rows[0].task) else max)(value for _, value in shown)
  for cell, value in shown:
    cell.best = value == best


def _table_metrics(task: str, records: List[dict], metrics: Sequence[str]) -> List[str]:
  if metrics:
    return list(metrics)
  reported = {m for r in records for m in r["metrics"]}
  spec = metric_spec(task)
  return [m for m in (spec.table if spec else ()) if m in reported] or sorted(reported)


def _group(records: List[dict]) -> Dict[str, Dict[str, List[dict]]]:
  """task -> variant -> runs, in order of appearance. A run without a config.json (pending, or failed early) is
  filed under its variant's task, known from its other runs; "?" when no run of the variant has one."""
  variant_task = {r["variant"]: r["task"] for r in reversed(records) if r["task"]}   # Its first run's task.
  tasks: Dict[str, Dict[str, List[dict]]] = {}
  for r in records:
    task = r["task"] or variant_task.get(r["variant"], "?")
    tasks.setdefault(task, {}).setdefault(r["variant"], []).append(r)
  return tasks


def build_tables(records: List[dict], metrics: Sequence[str] = (), baseline: Optional[str] = None,
                 alpha: float = 0.05) -> List[TaskTable]:
  """One TaskTable per task: a row per variant, a Cell per metric with its mean, std, p-value and marks."""
  tables = []
  for task, variants in _group(records).items():
    task_records = [r for runs in variants.values() for r in runs]
    columns = _table_metrics(task, task_records, metrics)
    baseline_runs = variants.get(baseline)
    rows = []
    for name, runs in variants.items():
      against = baseline_runs if name != baseline else None
      model = next((r["model"] for r in runs if r["model"]), None)
      rows.append(VariantRow(name, task, model, runs, {m: _cell(runs, m, against, alpha) for m in columns},
                             is_baseline=name == baseline))
    for metric in columns:
      _mark_best(rows, metric)
    tables.append(TaskTable(task, columns, rows, baseline if baseline_runs else None, alpha))
  return tables


# --- Writers -----------------------------------------------------------------------------------------------------

def _write_csv(path: str, header: List[str], rows: List[list]) -> None:
  """None is written as an empty cell: no value, as opposed to a 0 or a nan a run reported."""
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in rows])


def write_runs_csv(path: str, records: List[dict], metrics: Sequence[str]) -> None:
  header = ["variant", "seed", "status", "task", "model", *metrics, "steps_per_s", "params", "error"]
  _write_csv(path, header, [[r["variant"], r["seed"], r["status"], r["task"], r["model"],
                             *[r["metrics"].get(m) for m in metrics], r["steps_per_s"], r["params"], r["error"]]
                            for r in records])


def write_results_csv(path: str, tables: List[TaskTable], metrics: Sequence[str]) -> None:
  """One row per variant and task; metrics a task's table leaves out are still filled in, from its runs."""
  rows = []
  for table in tables:
    against = next((row.runs for row in table.rows if row.is_baseline), None)
    for row in table.rows:
      cells = [_cell(row.runs, m, None if row.is_baseline else against, table.alpha) for m in metrics]
      rows.append([row.variant, row.task, row.model, len(row.done), len(row.not_done),
                   *[value for c in cells for value in (c.mean, c.std, c.p)], row.steps_per_s, row.params])
  stat_columns = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "p")]
  _write_csv(path, ["variant", "task", "model", "seeds", "failed", *stat_columns, "steps_per_s", "params"], rows)


def _md_cell(cell: Cell) -> str:
  if not cell.n:
    return "–"
  mean = f"**{cell.mean_text()}**" if cell.best else cell.mean_text()
  text = mean if cell.std is None else f"{mean} ± {cell.std_text()}"
  return text + ("†" if cell.significant else "")


def markdown_footnote(table: TaskTable) -> str:
  test = (f"† p < {table.alpha:g} in a two-sided paired t-test against the baseline over the seeds both finished"
          if table.baseline else "no baseline, so no significance test")
  counts = ", ".join(f"{n} {status}" for status, n in table.run_counts().items())
  return f"± is the sample std over {table.seeds_phrase()} (the seeds column); {test}. Runs: {counts}.\n"


def markdown_table(table: TaskTable) -> str:
  head = ["variant", "task", "model", "seeds", *table.metrics, "steps/s", "params"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for row in table.rows:
    if row.done:
      name = row.variant + (" (baseline)" if row.is_baseline else "")
      cells = [name, row.task, row.model or "", str(len(row.done)), *[_md_cell(row.cells[m]) for m in table.metrics]]
      cells += [f"{row.steps_per_s:.1f}" if row.steps_per_s else "–", f"{row.params or 0:,}"]
      lines.append("| " + " | ".join(cells) + " |")
    for r in row.not_done:
      reason = r["error"].replace("|", "\\|")
      lines.append(f"| {row.variant} (seed {r['seed']}) | **{r['status']}**: {reason} |" + " |" * (len(head) - 2))
  return "\n".join(lines) + "\n\n" + markdown_footnote(table)


def markdown_tables(tables: List[TaskTable]) -> str:
  return "\n".join(f"### {table.task}\n\n" + markdown_table(table) for table in tables)


def check_sweep_dir(sweep_dir: str) -> None:
  if not os.path.exists(sweep_dir):
    raise UserError(f"--sweep_dir={sweep_dir} does not exist")
  if not os.path.isdir(sweep_dir):
    raise UserError(f"--sweep_dir={sweep_dir} is a file, not a sweep directory")


def write_tables(sweep_dir: str, metrics: Sequence[str] = (), baseline: Optional[str] = None,
                 variants: Sequence[str] = (), alpha: float = 0.05) -> List[dict]:
  """Writes runs.csv, results.csv, results.md and results.tex into `sweep_dir`; returns the tabled records. Every
  input is checked before anything is written."""
  if not 0 < alpha < 1:
    raise UserError(f"--alpha={alpha} must lie strictly between 0 and 1")
  check_sweep_dir(sweep_dir)
  records = collect(sweep_dir)
  if not records:
    if read_sweep_file(sweep_dir) is not None:
      raise UserError(f"{os.path.join(sweep_dir, SWEEP_FILE)} lists no runs")
    raise UserError(f"no runs under {sweep_dir}: neither {SWEEP_FILE} nor <variant>/seed_<n>/ directories")
  records = select_variants(records, variants)
  check_metrics(records, metrics)
  tables = build_tables(records, metrics, resolve_baseline(records, baseline, sweep_dir), alpha)
  csv_metrics = list(metrics) or sorted({m for r in records for m in r["metrics"]})
  write_runs_csv(os.path.join(sweep_dir, RUNS_CSV), records, csv_metrics)
  write_results_csv(os.path.join(sweep_dir, RESULTS_CSV), tables, csv_metrics)
  with open(os.path.join(sweep_dir, RESULTS_MD), "w") as f:
    f.write(markdown_tables(tables))
  with open(os.path.join(sweep_dir, RESULTS_TEX), "w") as f:
    f.write(latex_table.latex_tables(tables))
  return records


def run(values: flags.FlagValues, argv: Sequence[str]) -> int:
  """The command line's work: the tables written and results.md printed; its exit code."""
  cli.no_positional_arguments(argv)
  if not values.sweep_dir:
    raise UserError("--sweep_dir is required")
  write_tables(values.sweep_dir, values.metrics, values.baseline, values.variants, values.alpha)
  with open(os.path.join(values.sweep_dir, RESULTS_MD)) as f:
    print(f.read(), flush=True)
  return 0


def invoke(argv: Sequence[str]) -> int:
  """`python -m launch.aggregate ARGV...` in this process: its exit code; errors printed as the CLI prints them."""
  return cli.invoke(define_flags, run, argv, "launch.aggregate")


def main(argv):
  sys.exit(cli.reporting(lambda: run(flags.FLAGS, argv)))


if __name__ == "__main__":
  define_flags()   # Only here: importing the module (tests, rec_jax.main beside it) defines no global flags.
  app.run(main, flags_parser=cli.parse_flags)
