"""Many processes on JAX's own runtime (rec_jax/distributed.py): the launch settings read from the environment, each
process's share of a batch, and a 2-process run on one shared workdir against a 1-process run of the same config
(subprocesses on localhost, CPU, Gloo)."""

import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from rec_jax import distributed, parallel
from rec_jax.batch import FeatureArrays, Texts, TextTables
from rec_jax.data.pipeline import BatchShare, eval_batches, train_batch
from rec_jax.errors import UserError
from tests.batches import make_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 600
FULL = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:12355", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
SLURM = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "node[001-002]", "SLURM_NTASKS": "2", "SLURM_PROCID": "1",
         "SLURM_LOCALID": "0"}


def test_no_settings_is_one_process_and_initialize_does_nothing():
  assert distributed.launch_from_env({}) is None
  assert distributed.initialize({}) is False
  assert not distributed.is_multi_process() and distributed.process_index() == 0 and distributed.is_primary()


def test_our_three_variables_describe_the_launch():
  launch = distributed.launch_from_env({**FULL, "JAX_LOCAL_DEVICE_IDS": "0,1"})
  assert launch == distributed.Launch("env", "10.0.0.1:12355", 2, 1, (0, 1))
  # They win over a SLURM allocation (JAX's own detection stays out).
  assert distributed.launch_from_env({**SLURM, **FULL}).source == "env"
  # One process of one: nothing to join.
  assert distributed.launch_from_env({**FULL, "JAX_NUM_PROCESSES": "1", "JAX_PROCESS_ID": "0"}) is None


def test_slurm_is_left_to_jax_cluster_detection():
  assert distributed.launch_from_env(SLURM) == distributed.Launch("slurm")
  assert distributed.launch_from_env({**SLURM, "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None
  partial = dict(SLURM)
  del partial["SLURM_STEP_NODELIST"]   # Outside an srun step: not a launch JAX could detect.
  assert distributed.launch_from_env(partial) is None


@pytest.mark.parametrize("env, named", [
    ({"JAX_NUM_PROCESSES": "2"}, "JAX_COORDINATOR_ADDRESS and JAX_PROCESS_ID"),
    ({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_PROCESS_ID": "0"}, "but not JAX_NUM_PROCESSES"),
    ({**FULL, "JAX_PROCESS_ID": "one"}, "JAX_PROCESS_ID='one' is not an integer"),
    ({**FULL, "JAX_PROCESS_ID": "-1"}, "JAX_PROCESS_ID='-1' is not an integer >= 0"),
    ({**FULL, "JAX_PROCESS_ID": "2"}, "JAX_PROCESS_ID=2 is not below JAX_NUM_PROCESSES=2"),
    ({**FULL, "JAX_NUM_PROCESSES": "0"}, "JAX_NUM_PROCESSES='0' is not an integer >= 1"),
    ({**FULL, "JAX_COORDINATOR_ADDRESS": "10.0.0.1"}, "JAX_COORDINATOR_ADDRESS='10.0.0.1' is not host:port"),
    ({**FULL, "JAX_COORDINATOR_ADDRESS": "h:99999"}, "is not host:port"),
    ({**FULL, "JAX_LOCAL_DEVICE_IDS": "0,x"}, "JAX_LOCAL_DEVICE_IDS='0,x'"),
    ({"JAX_LOCAL_DEVICE_IDS": "0"}, "JAX_LOCAL_DEVICE_IDS is set but this is no multi-process launch"),
    ({**SLURM, "SLURM_PROCID": "2"}, "SLURM_PROCID=2 is not below SLURM_NTASKS=2"),
])
def test_bad_or_partial_settings_are_user_errors_naming_the_variable(env, named):
  with pytest.raises(UserError, match=re.escape(named)):
    distributed.launch_from_env(env)


def test_the_command_line_reports_bad_settings_as_one_error_line(monkeypatch, tmp_path):
  from rec_jax.main import invoke
  monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
  code, line = invoke(["--config=configs/synthetic.py:smoke", f"--workdir={tmp_path}"])
  assert code == 1 and line.startswith("error: JAX_NUM_PROCESSES set but not JAX_COORDINATOR_ADDRESS"), line


def _texts(values, width):
  ids = np.asarray(values)[:, None] * np.ones((len(values), width), np.int32)
  return Texts(ids=ids, mask=np.ones_like(ids), types=np.zeros_like(ids))


def test_the_shares_of_a_batch_make_up_the_batch_with_equal_text_blocks():
  n = 103
  # Text 0 .. 6 on the rows: shares of a batch hold different numbers of distinct texts.
  rows = make_rows(label=np.arange(n, dtype=np.float32), text_index=(np.arange(n) * 7 // n).astype(np.int32))
  arrays = FeatureArrays(rows, TextTables(text=_texts(np.arange(7), 3)))
  whole = train_batch(arrays, 3, 32, seed=0)
  shares = [train_batch(arrays, 3, 32, seed=0, share=BatchShare(devices=2, index=i, count=2)) for i in range(2)]
  np.testing.assert_array_equal(np.concatenate([s.label for s in shares]), whole.label)
  assert len({len(s.text.texts.ids) for s in shares}) == 1   # One shape on every process.
  # The global block is the shares' blocks in order; each row's slot finds its own text in it.
  block = np.concatenate([s.text.texts.ids for s in shares])
  slots = np.concatenate([s.text.slot for s in shares])
  np.testing.assert_array_equal(block[slots], whole.text.texts.ids[whole.text.slot])
  # Evaluation batches: every row once over the shares, padding (weight 0) at the end of the last batch.
  half = BatchShare(devices=1, index=1, count=2)
  second = [b.label[b.weight > 0] for b in eval_batches(arrays, 50, half)]
  np.testing.assert_array_equal(np.concatenate(second), np.r_[25:50, 75:100])


def test_one_process_feeds_the_whole_batch_over_its_data_devices():
  mesh = parallel.make_mesh(-1, model_axis=2)
  assert parallel.batch_share(mesh) == BatchShare(devices=mesh.shape[parallel.DATA], index=0, count=1)


# The 2-process run against one process: every process on the CPU with its own forced devices.
ARGS = ["--config=configs/synthetic.py:smoke", "--config.model.use_text=False", "--config.train.num_steps=10",
        "--config.train.log_every=10", "--config.eval.every_steps=5", "--config.checkpoint.every_steps=5"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int, **launch) -> dict:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("SLURM_", "JAX_COORDINATOR", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
                              "JAX_LOCAL_DEVICE_IDS"))}
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **launch)
  return env


def _start(workdir, data_dir, env, log_path, extra=()):
  log = open(log_path, "w")
  return subprocess.Popen([sys.executable, "-m", "rec_jax.main", *ARGS, *extra, f"--workdir={workdir}",
                           f"--config.data.data_dir={data_dir}"], cwd=ROOT, env=env, stdout=log,
                          stderr=subprocess.STDOUT), log_path


def _two_processes(workdir, data_dir, tmp_path, name, extra=()):
  port = _free_port()
  launch = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2"}
  return [_start(workdir, data_dir, _env(2, JAX_PROCESS_ID=str(i), **launch), tmp_path / f"{name}_{i}.log", extra)
            for i in range(2)]


def _wait(procs):
  """Exit codes of all; a hang past TIMEOUT_S kills them all and fails with the logs' tails."""
  deadline = time.monotonic() + TIMEOUT_S
  try:
    for proc, _ in procs:
      proc.wait(timeout=max(deadline - time.monotonic(), 1))
  except subprocess.TimeoutExpired:
    pytest.fail(f"no exit within {TIMEOUT_S} s:\n" + _tails(procs))
  finally:
    for proc, _ in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  return [proc.returncode for proc, _ in procs]


def _tails(procs) -> str:
  return "\n".join(f"--- {path}\n{open(path).read()[-3000:]}" for _, path in procs)


def _log(workdir):
  return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


def test_two_processes_on_one_workdir_train_and_evaluate_like_one(tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  # All three at once (fresh data caches: the pair's process 0 builds its dataset before process 1 reads it).
  single = [_start(one, tmp_path / "data_one", _env(4), tmp_path / "one.log")]
  pair = _two_processes(two, tmp_path / "data_two", tmp_path, "two")
  codes = _wait(single + pair)
  assert codes == [0, 0, 0], _tails(single + pair)
  a, b = (json.load(open(w / "results.json")) for w in (one, two))
  assert b["devices"]["mesh"] == a["devices"]["mesh"] == {"data": 4, "model": 1}
  for metric in ("auc", "logloss"):
    assert abs(a["metrics"][metric] - b["metrics"][metric]) <= 1e-5, (metric, a["metrics"], b["metrics"])
  assert [m["step"] for m in _log(one)] == [m["step"] for m in _log(two)] == [5, 10]
  for x, y in zip(_log(one), _log(two)):
    for key in ("train/loss", "auc", "logloss"):
      assert abs(x[key] - y[key]) <= 1e-5, (key, x, y)
  # Process 0 wrote the shared files once; each process held its own lock; both finished.
  assert sorted(os.listdir(two / "checkpoints")) == ["best", "digests", "latest"]
  assert (two / ".run.lock").exists() and (two / ".run.lock.1").exists()
  assert all("done: results in" in open(path).read() for _, path in pair)

  # A refusal on process 0 (another config in the trained workdir) stops both, each with one error line.
  again = _two_processes(two, tmp_path / "data_two", tmp_path, "again", ["--config.seed=5"])
  assert _wait(again) == [1, 1], _tails(again)
  first, second = (open(path).read().strip().splitlines()[-1] for _, path in again)
  assert first.startswith("error: ") and "different config (seed: 0 -> 5)" in first
  assert second.startswith("error: process 0 failed checking the workdir's config: ") and "seed: 0 -> 5" in second
