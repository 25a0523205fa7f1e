"""launch.aggregate turns hand-written sweep directories into runs.csv, results.csv, results.md and results.tex:
means and sample stds by hand, the paired t-test against a hand computation, bold and daggers, rows for runs that
did not finish, variant selection, LaTeX escaping and structure, and the CLI."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from launch import aggregate, latex_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Per-seed auc of a baseline and two variants. `paired` beats the baseline by 0.02 +- 0.001 on every seed: the
# seed-to-seed spread (0.1) swamps that in an unpaired test, while the paired test finds it (p < 0.001).
BASE = [0.60, 0.70, 0.80]
PAIRED = [0.62, 0.721, 0.819]
NOISY = [0.62, 0.71, 0.83]   # Differences 0.02, 0.01, 0.03: p ~ 0.074, above 0.05 but below 0.1.


def write_run(root, variant, seed, metrics=None, failed=None, task="ctr", model="hybrid", config=True, error=None):
  """A fake run directory: config.json, plus results.json (metrics given) or failed.json (failed: its log_tail;
  error: the error line launch.sweep picked out, absent from older failed.json files)."""
  run_dir = root / variant / f"seed_{seed}"
  run_dir.mkdir(parents=True)
  if config:
    (run_dir / "config.json").write_text(json.dumps({"task": task, "model": {"name": model}, "seed": seed}))
  if metrics is not None:
    (run_dir / "results.json").write_text(json.dumps(
        {"metrics": metrics, "train_steps_per_s": 10.0 + seed, "parameters": {"trainable": 1234}}))
  if failed is not None:
    failure = {"exit_code": 1, "command": ["python"], "log_tail": failed, **({"error": error} if error else {})}
    (run_dir / "failed.json").write_text(json.dumps(failure))
  return run_dir


def write_sweep_json(root, runs, baseline=None):
  variants = list(dict.fromkeys(v for v, _ in runs))
  (root / "sweep.json").write_text(json.dumps({
      "config": "configs/synthetic.py", "sweep": "configs/sweeps/x.py", "baseline": baseline, "variants": variants,
      "seeds": sorted({s for _, s in runs}),
      "runs": [{"variant": v, "seed": s, "workdir": f"{v}/seed_{s}"} for v, s in runs]}))


def ablation(root, baseline="base", alpha_variants=("paired", "noisy")):
  """base / paired / noisy over seeds 0-2 (auc and logloss), written with a sweep.json naming `baseline`."""
  values = {"base": BASE, "paired": PAIRED, "noisy": NOISY}
  runs = []
  for name in ("base", *alpha_variants):
    for seed, auc in enumerate(values[name]):
      write_run(root, name, seed, {"auc": auc, "logloss": 1 - auc})
      runs.append((name, seed))
  write_sweep_json(root, runs, baseline)


def read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def md_row(table, variant):
  """The cells of `variant`'s summary row in a markdown table."""
  for line in table.splitlines():
    cells = [c.strip() for c in line.strip("|").split("|")]
    if cells[0] in (variant, f"{variant} (baseline)"):
      return cells
  raise AssertionError(f"no row for {variant} in\n{table}")


def test_mean_and_sample_std_by_hand(tmp_path):
  for seed, auc in enumerate([0.70, 0.72, 0.77]):
    write_run(tmp_path, "a", seed, {"auc": auc})
  write_run(tmp_path, "b", 0, {"auc": 0.5})
  aggregate.write_tables(str(tmp_path))
  # mean 0.73; deviations -0.03, -0.01, 0.04: sample variance (9 + 1 + 16)e-4 / 2.
  rows = {r["variant"]: r for r in read_csv(tmp_path / "results.csv")}
  assert math.isclose(float(rows["a"]["auc_mean"]), 0.73) and math.isclose(float(rows["a"]["auc_std"]), 13e-4 ** .5)
  assert rows["a"]["seeds"] == "3" and rows["a"]["failed"] == "0" and rows["a"]["steps_per_s"] == "11.0"
  assert rows["b"]["auc_std"] == "" and rows["b"]["auc_p"] == ""   # One seed: no std; no baseline: no test.
  table = (tmp_path / "results.md").read_text()
  assert md_row(table, "a")[:5] == ["a", "ctr", "hybrid", "3", "**0.7300** ± 0.0361"]
  assert md_row(table, "b")[4] == "0.5000"
  assert len(read_csv(tmp_path / "runs.csv")) == 4


def test_paired_p_value_matches_hand_computation_and_pairing_matters():
  base = dict(enumerate(BASE))
  ours = {**dict(enumerate(PAIRED)), 7: 0.99}   # Seed 7 has no baseline run: it must not be paired.
  d = np.array(PAIRED) - np.array(BASE)
  t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
  by_hand = 2 * stats.t.sf(abs(t), df=len(d) - 1)
  assert math.isclose(aggregate.paired_p_value(ours, base), by_hand, rel_tol=1e-9)
  assert by_hand < 0.001 and stats.ttest_ind(PAIRED, BASE).pvalue > 0.5   # Unpaired, the gain is invisible.


def test_paired_p_value_edge_cases():
  assert aggregate.paired_p_value({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6}) == 1.0   # scipy alone gives nan here.
  assert aggregate.paired_p_value({0: 0.5, 1: 0.6}, {0: 0.4, 2: 0.6}) is None   # One shared seed.
  assert aggregate.paired_p_value({0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.6}) < 1e-6   # A constant gain: t = inf.


def test_results_csv_p_values_pair_only_seeds_both_finished(tmp_path):
  ablation(tmp_path)
  (tmp_path / "base" / "seed_2" / "results.json").unlink()   # The baseline's seed 2 never finished.
  aggregate.write_tables(str(tmp_path))
  rows = {r["variant"]: r for r in read_csv(tmp_path / "results.csv")}
  expected = stats.ttest_rel(PAIRED[:2], BASE[:2]).pvalue
  assert math.isclose(float(rows["paired"]["auc_p"]), expected, rel_tol=1e-9)
  assert rows["base"]["auc_p"] == "" and rows["base"]["seeds"] == "2" and rows["base"]["failed"] == "1"


def test_bold_is_the_max_of_auc_and_the_min_of_logloss_and_rmse(tmp_path):
  write_run(tmp_path, "high_auc", 0, {"auc": 0.80, "logloss": 0.50, "auc/cold": 0.6})
  write_run(tmp_path, "low_logloss", 0, {"auc": 0.70, "logloss": 0.40, "auc/cold": 0.6})
  write_run(tmp_path, "never_done", 0, failed=["error: boom"])
  for name, rmse in (("mf", 0.9), ("ncf", 0.8)):
    write_run(tmp_path, name, 0, {"rmse": rmse, "mae": 0.7, "rmse/cold": rmse + 0.1}, task="rating", model=name)
  aggregate.write_tables(str(tmp_path))
  ctr, rating = (tmp_path / "results.md").read_text().split("### rating")
  # Columns: variant task model seeds auc auc/cold logloss.
  assert md_row(ctr, "high_auc")[4:7] == ["**0.8000**", "**0.6000**", "0.5000"]   # The tie on auc/cold: both.
  assert md_row(ctr, "low_logloss")[4:7] == ["0.7000", "**0.6000**", "**0.4000**"]
  assert md_row(rating, "ncf")[4:7] == ["**0.8000**", "**0.7000**", "**0.9000**"]
  assert md_row(rating, "mf")[4:7] == ["0.9000", "**0.7000**", "1.0000"]
  tex = (tmp_path / "results.tex").read_text()
  assert r"high\_auc & hybrid & 1 & \textbf{0.8000} & \textbf{0.6000} & 0.5000 &" in tex


def test_dagger_only_where_p_is_below_alpha(tmp_path):
  ablation(tmp_path)
  aggregate.write_tables(str(tmp_path), metrics=["auc"])
  table = (tmp_path / "results.md").read_text()
  assert md_row(table, "paired")[4].endswith("†") and not md_row(table, "noisy")[4].endswith("†")
  assert "†" not in md_row(table, "base")[4] and md_row(table, "base")[0] == "base (baseline)"
  tex = (tmp_path / "results.tex").read_text()
  assert tex.count(r"$^\dagger$") == 2   # The paired cell and the footnote.
  aggregate.write_tables(str(tmp_path), metrics=["auc"], alpha=0.1)   # noisy's p ~ 0.074 passes now.
  table = (tmp_path / "results.md").read_text()
  assert md_row(table, "paired")[4].endswith("†") and md_row(table, "noisy")[4].endswith("†")
  assert "† p < 0.1 in a two-sided paired t-test" in table


def test_no_baseline_means_no_test(tmp_path):
  ablation(tmp_path, baseline=None)
  aggregate.write_tables(str(tmp_path))
  table = (tmp_path / "results.md").read_text()
  assert "†" not in table and "(baseline)" not in table and "no significance" in table
  assert all(r["auc_p"] == "" for r in read_csv(tmp_path / "results.csv"))
  aggregate.write_tables(str(tmp_path), baseline="noisy")   # --baseline picks one without sweep.json's.
  assert md_row((tmp_path / "results.md").read_text(), "noisy")[0] == "noisy (baseline)"


def test_sweep_json_lists_exactly_its_runs_in_its_order_pending_included(tmp_path):
  write_run(tmp_path, "zeta", 0, {"auc": 0.7})
  write_run(tmp_path, "alpha", 0, {"auc": 0.6})
  write_run(tmp_path, "stray", 0, {"auc": 0.9})   # Not in sweep.json: not part of this sweep.
  write_sweep_json(tmp_path, [("zeta", 0), ("zeta", 1), ("alpha", 0)])   # zeta seed 1 has no directory yet.
  records = aggregate.write_tables(str(tmp_path))
  assert [(r["variant"], r["seed"], r["status"]) for r in records] == [
      ("zeta", 0, "done"), ("zeta", 1, "pending"), ("alpha", 0, "done")]
  table = (tmp_path / "results.md").read_text()
  assert "| zeta (seed 1) | **pending**: not started" in table and "stray" not in table
  assert "### ?" not in table   # The pending run has no config.json: it is filed under zeta's task.
  assert table.index("| zeta |") < table.index("| alpha |")
  assert "Runs: 2 done, 0 failed, 0 incomplete, 1 pending." in table
  assert [r["status"] for r in read_csv(tmp_path / "runs.csv")] == ["done", "pending", "done"]
  assert [(r["variant"], r["failed"]) for r in read_csv(tmp_path / "results.csv")] == [("zeta", "1"), ("alpha", "0")]


def test_without_sweep_json_runs_are_found_by_variant_and_numeric_seed(tmp_path):
  for seed in (10, 2):
    write_run(tmp_path, "b", seed, {"auc": 0.5})
  write_run(tmp_path, "a", 0)   # Started, no results yet.
  records = aggregate.collect(str(tmp_path))
  assert [(r["variant"], r["seed"], r["status"]) for r in records] == [
      ("a", 0, "incomplete"), ("b", 2, "done"), ("b", 10, "done")]


def test_failed_and_unfinished_runs_keep_rows_in_md_csv_and_tex(tmp_path):
  write_run(tmp_path, "lr", 0, {"auc": 0.7, "logloss": 0.5})
  error = "error: model.cross='nope' & 100% of {x_y} is bad"
  write_run(tmp_path, "broken", 0, failed=["Traceback", error, "exit"])
  write_run(tmp_path, "stopped", 0)
  write_run(tmp_path, "picked", 0, failed=["error: not this one", "boom"], error="error: the sweep's pick")
  write_run(tmp_path, "early", 0, failed=[], config=False)   # Failed before writing its config: task unknown.
  records = aggregate.write_tables(str(tmp_path))
  assert {r["variant"]: r["status"] for r in records} == {
      "lr": "done", "broken": "failed", "stopped": "incomplete", "picked": "failed", "early": "failed"}
  table = (tmp_path / "results.md").read_text()
  assert "| lr | ctr | hybrid | 1 |" in table and f"| broken (seed 0) | **failed**: {error} |" in table
  assert "| stopped (seed 0) | **incomplete**: no results.json" in table
  assert "| picked (seed 0) | **failed**: error: the sweep's pick |" in table
  assert "### ?" in table and "| early (seed 0) | **failed**: exit code 1 |" in table
  runs = {r["variant"]: r for r in read_csv(tmp_path / "runs.csv")}
  assert runs["broken"]["error"] == error and runs["broken"]["auc"] == "" and runs["lr"]["auc"] == "0.7"
  results = {r["variant"]: r for r in read_csv(tmp_path / "results.csv")}
  assert (results["broken"]["seeds"], results["broken"]["failed"], results["broken"]["auc_mean"]) == ("0", "1", "")
  tex = (tmp_path / "results.tex").read_text()
  escaped = r"error: model.cross='nope' \& 100\% of \{x\_y\} is bad"
  assert r"\multicolumn{7}{l}{\emph{broken (seed 0): failed}: " + escaped + r"} \\" in tex


def test_variants_selects_and_orders_rows_and_rejects_unknown_names(tmp_path):
  ablation(tmp_path)
  records = aggregate.write_tables(str(tmp_path), variants=["noisy", "base"])
  assert list(dict.fromkeys(r["variant"] for r in records)) == ["noisy", "base"]
  table = (tmp_path / "results.md").read_text()
  assert "| paired" not in table and table.index("| noisy |") < table.index("| base (baseline) |")
  assert [r["variant"] for r in read_csv(tmp_path / "results.csv")] == ["noisy", "base"]
  with pytest.raises(ValueError, match=r"unknown variant\(s\) \['nope'\]; valid: base, paired, noisy"):
    aggregate.write_tables(str(tmp_path), variants=["base", "nope"])


def test_bad_baseline_metric_or_sweep_json_are_specific_errors(tmp_path):
  ablation(tmp_path)
  with pytest.raises(ValueError, match="--baseline=nope names no variant of the table; valid: base, paired, noisy"):
    aggregate.write_tables(str(tmp_path), baseline="nope")
  with pytest.raises(ValueError, match="--baseline=paired names no variant of the table; valid: base"):
    aggregate.write_tables(str(tmp_path), baseline="paired", variants=["base"])
  with pytest.raises(ValueError, match=r"no run has metric\(s\) \['ndcg@5'\]; available: auc, logloss"):
    aggregate.write_tables(str(tmp_path), metrics=["auc", "ndcg@5"])
  (tmp_path / "sweep.json").write_text(json.dumps({"runs": [{"variant": "base"}]}))
  with pytest.raises(ValueError, match=r"sweep.json: runs\[0\] needs a variant and a seed"):
    aggregate.write_tables(str(tmp_path))


def test_latex_escape():
  assert latex_table.escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"
  assert latex_table.escape(r"$x {y} ~z ^w \v") == r"\$x \{y\} \textasciitilde{}z \textasciicircum{}w \textbackslash{}v"
  assert latex_table.escape("±x") == "?x"


def _check_latex_structure(tex):
  """Environments nest, braces balance, and every tabular row has as many cells as the column spec."""
  source = re.sub(r"\\[{}&%$#_]", "", tex)   # Escaped characters are text, not syntax.
  assert "%" not in source.split("\n", 1)[1] and "#" not in source and "_" not in source
  stack = []
  for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", source):
    if kind == "begin":
      stack.append(name)
    else:
      assert stack.pop() == name
  assert not stack
  depth = 0
  for char in source:
    depth += {"{": 1, "}": -1}.get(char, 0)
    assert depth >= 0
  assert depth == 0
  for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", source, re.S):
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert rows
    for row in rows:
      span = re.match(r"\\multicolumn\{(\d+)\}", row)
      assert int(span.group(1)) == len(spec) if span else row.count("&") == len(spec) - 1, row
    assert body.index(r"\toprule") < body.index(r"\midrule") < body.index(r"\bottomrule")


def _latex_fixture(root):
  """Two tasks; a baseline with a significant rival; a name, a model and an error full of LaTeX specials."""
  ablation(root, alpha_variants=("paired",))
  write_run(root, "with_under", 0, {"auc": 0.5, "logloss": 0.5}, model="deep_fm")
  write_run(root, "broken", 0, failed=["error: 100% & {x_y} ~ ^ $ # \\ " + "long " * 40])
  write_run(root, "next", 0, {"hit@10": 0.1, "ndcg@10": 0.05}, task="next_item")
  (root / "sweep.json").unlink()   # Found by their directories instead.


def test_latex_tables_are_well_formed(tmp_path):
  _latex_fixture(tmp_path)
  aggregate.write_tables(str(tmp_path), baseline="base")
  tex = (tmp_path / "results.tex").read_text()
  _check_latex_structure(tex)
  assert tex.count(r"\begin{table}") == 2 and tex.count(r"\caption{") == 2 and r"\caption{next\_item:" in tex
  assert r"\begin{tabular}{llrrrrr}" in tex and r"with\_under & deep\_fm & 1 &" in tex
  assert r"base (baseline) & hybrid & 3 & 0.7000 $\pm$ 0.1000 &" in tex
  assert r"paired & hybrid & 3 & \textbf{0.7200} $\pm$ 0.0995$^\dagger$ &" in tex
  broken = next(line for line in tex.splitlines() if "broken" in line)
  assert broken.endswith(r"...} \\") and len(broken) < 250 and r"100\% \& \{x\_y\}" in broken
  with pytest.raises(AssertionError):   # The checker itself catches a row with a cell too many.
    _check_latex_structure(tex.replace(r"with\_under &", "with & under &"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_tables_compile(tmp_path):
  _latex_fixture(tmp_path)
  aggregate.write_tables(str(tmp_path), baseline="base")
  (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      "\\input{results.tex}\n\\end{document}\n")
  result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=120)
  assert result.returncode == 0, result.stdout[-3000:]


def _cli(*flags):
  return subprocess.run([sys.executable, "-m", "launch.aggregate", *flags], cwd=ROOT, capture_output=True, text=True,
                        check=False, timeout=120)


def test_cli_writes_every_table_and_reports_bad_input_in_one_line(tmp_path):
  ablation(tmp_path)
  result = _cli(f"--sweep_dir={tmp_path}", "--variants=paired,base", "--metrics=auc", "--alpha=0.01")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "| paired | ctr | hybrid | 3 | **0.7200** ± 0.0995† |" in result.stdout and "noisy" not in result.stdout
  assert result.stdout.strip() == (tmp_path / "results.md").read_text().strip()
  assert all((tmp_path / name).exists() for name in ("runs.csv", "results.csv", "results.md", "results.tex"))
  for flag, message in (("--variants=base,zzz", "valid: base, paired, noisy"),
                        ("--baseline=zzz", "--baseline=zzz names no variant"), ("--alpha=2", "--alpha=2.0 must")):
    result = _cli(f"--sweep_dir={tmp_path}", flag)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error:") and message in result.stderr
  result = _cli(f"--sweep_dir={tmp_path / 'none'}")
  assert result.returncode == 1 and result.stderr == f"error: --sweep_dir={tmp_path / 'none'} does not exist\n"


def test_oracle_ceiling_is_neither_bolded_nor_tested(tmp_path):
  for name, aucs, oracle in (("base", BASE, 0.9), ("paired", PAIRED, 0.95)):
    for seed, auc in enumerate(aucs):
      write_run(tmp_path, name, seed, {"auc": auc, "oracle_auc": oracle + 0.001 * seed})
  write_sweep_json(tmp_path, [(v, s) for v in ("base", "paired") for s in range(3)], baseline="base")
  aggregate.write_tables(str(tmp_path), metrics=["auc", "oracle_auc"])
  paired = next(l for l in (tmp_path / "results.md").read_text().splitlines() if l.startswith("| paired"))
  assert "**0.7200** ± 0.0995†" in paired and "| 0.9510 ± 0.0010 |" in paired, paired
  rows = {r["variant"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
  assert rows["paired"]["oracle_auc_p"] == "" and float(rows["paired"]["auc_p"]) < 0.05
