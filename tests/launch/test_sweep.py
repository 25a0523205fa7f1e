"""launch.sweep runs every variant x seed in its own workdir, records failures, resumes; launch.aggregate tables
every run, failed ones included."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from launch import aggregate, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP_FILE = '''
def get_sweep(arg=None):
  return dict(seeds=(0,), variants=[dict(name="lr", preset="lr,smoke"),
                                    dict(name="broken", preset="lr,smoke", overrides={"model.cross": "nope"})])
'''


def test_expand_gives_one_run_per_variant_and_seed(tmp_path):
  runs = sweep.expand("configs/zoo.py", dict(seeds=(0, 1), variants=[dict(name="a", preset="mf"),
                                                                      dict(name="b", overrides={"seed": 9})]),
                      str(tmp_path))
  assert [(r.variant, r.seed) for r in runs] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
  command = runs[1].command()
  assert "--config=configs/zoo.py:mf" in command and "--config.seed=1" in command
  assert runs[3].workdir == str(tmp_path / "b" / "seed_1")
  # The sweep's seed wins over a variant's own.
  assert runs[2].command()[-1] == "--config.seed=0"


def test_zoo_sweep_lists_every_family():
  spec = sweep.load_sweep(os.path.join(ROOT, "configs", "sweeps", "zoo.py") + ":smoke,seeds=2")
  assert len(spec["variants"]) > 15 and spec["seeds"] == (0, 1)
  assert all(v["preset"].endswith(",smoke") for v in spec["variants"])


def test_sweep_records_failures_resumes_and_aggregates(tmp_path, tfds_dir):
  (tmp_path / "sweep.py").write_text(SWEEP_FILE)
  out = tmp_path / "out"
  command = [sys.executable, "-m", "launch.sweep", "--config=configs/zoo.py", f"--sweep={tmp_path / 'sweep.py'}",
             f"--workdir={out}", "--parallel=2", f"--config.data.data_dir={tfds_dir}"]
  first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  assert first.returncode == 1, first.stderr[-2000:]
  assert "1/2 runs finished" in first.stdout
  assert os.path.exists(out / "lr" / "seed_0" / "results.json")
  failure = json.loads((out / "broken" / "seed_0" / "failed.json").read_text())
  assert failure["exit_code"] != 0 and any("nope" in line for line in failure["log_tail"])
  records = aggregate.write_tables(str(out))
  assert {r["variant"]: r["status"] for r in records} == {"lr": "done", "broken": "failed"}
  table = (out / "results.md").read_text()
  assert "| lr | ctr | hybrid | 1 |" in table and "broken (seed 0) | **failed**" in table and "nope" in table
  # Re-running reports the finished run without retraining it and retries the failed one.
  results_mtime = os.path.getmtime(out / "lr" / "seed_0" / "results.json")
  again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  statuses = {json.loads(line)["run"]: json.loads(line)["status"] for line in again.stdout.splitlines()
              if line.startswith("{")}
  assert statuses == {str(out / "lr" / "seed_0"): "done", str(out / "broken" / "seed_0"): "failed"}
  assert os.path.getmtime(out / "lr" / "seed_0" / "results.json") == results_mtime
  assert os.path.exists(out / "broken" / "seed_0" / "failed.json")


def test_bad_sweep_input_is_one_error_line(tmp_path):
  (tmp_path / "empty.py").write_text("X = 1\n")
  cases = [("--sweep=configs/sweeps/nope.py", "does not exist"), (f"--sweep={tmp_path / 'empty.py'}", "get_sweep"),
           ("--sweep=configs/sweeps/zoo.py:smoke --only=zzz", "names no variant")]
  for flags, message in cases:
    result = subprocess.run([sys.executable, "-m", "launch.sweep", "--config=configs/zoo.py",
                             f"--workdir={tmp_path / 'out'}", *flags.split()],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("error:"), result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
  result = subprocess.run([sys.executable, "-m", "launch.aggregate", f"--sweep_dir={tmp_path / 'none'}"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
  assert result.returncode == 1 and "error: no runs" in result.stderr and "Traceback" not in result.stderr
