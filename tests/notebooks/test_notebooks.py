"""The notebooks run top to bottom (nbclient) on a tiny run and a tiny sweep, and are committed without outputs."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
TINY_SWEEP = '''
def get_sweep(arg=None):
  return dict(seeds=(0, 1), baseline="lr", variants=[dict(name="lr", preset="lr,smoke"),
                                                     dict(name="fm", preset="fm,smoke")])
'''


def execute(name: str, **env) -> nbformat.NotebookNode:
  """Runs notebooks/<name> in a fresh kernel (cwd: the repo) with `env` set; a failing cell raises."""
  notebook = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
  old = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
  finally:
    for k, v in old.items():
      os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
  return notebook


def _outputs(notebook, kind: str):
  return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
          if kind in o.get("data", {}) or o.get("name") == kind]


def _text(notebook) -> str:
  return "".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "")
                 for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_notebooks_are_committed_without_outputs():
  assert {os.path.basename(p) for p in NOTEBOOKS} >= {"checkpoint_analysis.ipynb", "ablation_report.ipynb"}
  for path in NOTEBOOKS:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
      if cell.cell_type == "code":
        assert cell.outputs == [] and cell.execution_count is None, f"{path}: strip the outputs before committing"


@pytest.mark.xdist_group("trained_smoke_run")
def test_checkpoint_analysis_runs_on_a_tiny_run(trained_smoke_run):
  notebook = execute("checkpoint_analysis.ipynb", RECJAX_WORKDIR=trained_smoke_run)
  assert len(_outputs(notebook, "image/png")) == 3   # curves, embeddings, importance
  text = _text(notebook)
  assert "hybrid on synthetic_shop, task ctr: best checkpoint at step" in text
  assert "| cold |" in text and "seen items excluded" in text and "text vectors:" in text


def test_ablation_report_runs_on_a_tiny_sweep(tmp_path, tfds_dir):
  (tmp_path / "sweep.py").write_text(TINY_SWEEP)
  sweep_dir = tmp_path / "sweep"
  subprocess.run([sys.executable, "-m", "launch.sweep", "--config=configs/zoo.py", f"--sweep={tmp_path / 'sweep.py'}",
                  f"--workdir={sweep_dir}", "--parallel=2", f"--config.data.data_dir={tfds_dir}",
                  "--config.train.num_steps=20", "--config.eval.every_steps=10", "--config.checkpoint.every_steps=10"],
                 cwd=ROOT, check=True, capture_output=True)
  notebook = execute("ablation_report.ipynb", RECJAX_SWEEP_DIR=str(sweep_dir))
  assert len(_outputs(notebook, "image/png")) == 1
  text = _text(notebook)
  assert "4 runs: 4 done" in text and "| lr (baseline) |" in text and "| fm |" in text
  assert all((sweep_dir / f).exists() for f in ("results.csv", "results.md", "results.tex", "runs.csv"))
