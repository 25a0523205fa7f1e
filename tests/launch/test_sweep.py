"""launch.sweep runs every variant x seed in its own workdir, records failures, resumes; launch.aggregate tables
every run, failed ones included."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from launch import aggregate, sweep
from rec_jax.workdir import RUN_LOCK_FILE, RUN_LOG_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP_FILE = '''
def get_sweep(arg=None):
  return dict(seeds=(0, 1), baseline="lr",
              variants=[dict(name="lr", preset="lr,smoke"),
                        dict(name="broken", preset="lr,smoke", overrides={"model.cross": "nope"})])
'''
# Long enough after its first checkpoint (step 20) that the sweep is reliably killed mid-run.
LONG_SMOKE = ["--config.train.num_steps=400", "--config.eval.every_steps=200", "--config.checkpoint.every_steps=20"]


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


def _lock_is_free(run_dir) -> bool:
  with open(run_dir / RUN_LOCK_FILE, "a") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      return True
    except BlockingIOError:
      return False


def _has_checkpoint(run_dir) -> bool:
  latest = run_dir / "checkpoints" / "latest"
  return latest.exists() and any(p.name.isdigit() for p in latest.iterdir())


def _statuses(stdout: str) -> dict:
  return {json.loads(line)["run"]: json.loads(line)["status"] for line in stdout.splitlines()
          if line.startswith("{")}


def test_killed_sweep_resumes_and_accounts_for_every_run(tmp_path, tfds_dir):
  (tmp_path / "sweep.py").write_text(SWEEP_FILE)
  out = tmp_path / "out"
  command = [sys.executable, "-m", "launch.sweep", "--config=configs/zoo.py", f"--sweep={tmp_path / 'sweep.py'}",
             f"--workdir={out}", "--parallel=2", f"--config.data.data_dir={tfds_dir}", *LONG_SMOKE]
  runs = [out / "lr" / "seed_0", out / "lr" / "seed_1", out / "broken" / "seed_0", out / "broken" / "seed_1"]
  manifest_runs = None
  sweep_process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while not any((r / "checkpoints" / "latest" / "20").exists() for r in runs[:2]) and time.time() < deadline:
    time.sleep(0.2)
  manifest_runs = json.loads((out / "sweep.json").read_text())["runs"]
  interrupted = [r for r in runs[:2] if _has_checkpoint(r) and not (r / "results.json").exists()]
  sweep_process.send_signal(signal.SIGTERM)
  _, stderr = sweep_process.communicate(timeout=120)
  assert sweep_process.returncode == 1 and "stopped" in stderr, stderr[-2000:]
  assert interrupted, "the sweep should have been killed while a run was training"
  # The sweep took its runs down with it: none still holds its workdir's lock.
  assert all(_lock_is_free(r) for r in runs if (r / RUN_LOCK_FILE).exists())
  assert [(m["variant"], m["seed"]) for m in manifest_runs] == [("lr", 0), ("lr", 1), ("broken", 0), ("broken", 1)]

  resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  assert resumed.returncode == 1, resumed.stderr[-2000:]
  assert "2/4 runs finished" in resumed.stdout and "failed:" in resumed.stdout and "nope" in resumed.stdout
  for run in interrupted:
    assert "resumed from step" in (run / RUN_LOG_FILE).read_text()
  for run in runs[:2]:
    results = json.loads((run / "results.json").read_text())
    assert results["devices"]["mesh"] == {"data": 2, "model": 1}   # its half of the 4 devices
  failure = json.loads((runs[2] / "failed.json").read_text())
  assert failure["exit_code"] != 0 and "nope" in failure["error"]
  records = aggregate.write_tables(str(out))
  assert sorted((r["variant"], r["seed"], r["status"]) for r in records) == [
      ("broken", 0, "failed"), ("broken", 1, "failed"), ("lr", 0, "done"), ("lr", 1, "done")]
  table = (out / "results.md").read_text()
  assert "| lr (baseline) | ctr | hybrid | 2 |" in table and "broken (seed 0) | **failed**" in table, table

  # Again: the finished runs are reported without retraining, the failed ones retried.
  mtimes = [os.path.getmtime(r / "results.json") for r in runs[:2]]
  again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  assert _statuses(again.stdout) == {**{str(r): "skipped (finished before)" for r in runs[:2]},
                                     **{str(r): "failed" for r in runs[2:]}}, again.stdout
  assert [os.path.getmtime(r / "results.json") for r in runs[:2]] == mtimes


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
  (tmp_path / "none").mkdir()
  result = subprocess.run([sys.executable, "-m", "launch.aggregate", f"--sweep_dir={tmp_path / 'none'}"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
  assert result.returncode == 1 and "error: no runs" in result.stderr and "Traceback" not in result.stderr


OPTIONS_SWEEP = '''
def get_sweep(arg=None):
  return dict(seeds=(0,), variants=[dict(name="dcnv2_mix", preset="smoke", overrides={
      "model.cross": "dcnv2", "model.cross_options.low_rank": 8, "model.cross_options.structure": "stacked",
      "model.history": "sasrec", "model.history_options.num_heads": 2})])
'''


def test_a_sweep_file_sets_the_options_of_crosses_and_history_encoders(tmp_path):
  """A variant's option overrides become the very command-line flags tests/test_main.py trains with (there: they are
  accepted, recorded in config.json and build the model they name)."""
  from tests.test_main import OPTION_OVERRIDES  # pylint: disable=import-outside-toplevel
  (tmp_path / "sweep.py").write_text(OPTIONS_SWEEP)
  runs = sweep.expand("configs/synthetic.py", sweep.load_sweep(str(tmp_path / "sweep.py")), str(tmp_path / "out"))
  assert len(runs) == 1 and "--config=configs/synthetic.py:smoke" in runs[0].command()
  assert set(OPTION_OVERRIDES) <= set(runs[0].command())


def test_devices_per_run_gives_a_single_run_its_devices_too(monkeypatch):
  """--devices_per_run applies with --parallel=1 as well (it was ignored); without it no device listing is needed."""
  from launch import devices  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(devices, "visible_devices", lambda: ("cpu", 4))
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
  (env,) = devices.slot_environments(1, 2)
  assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
  assert [e["XLA_FLAGS"] for e in devices.slot_environments(2, 0)] == ["--xla_force_host_platform_device_count=2"] * 2
  monkeypatch.setattr(devices, "visible_devices", lambda: pytest.fail("listed the devices"))
  assert devices.slot_environments(1, 0) == [{}]
