"""Device subsets for the runs of a parallel sweep: with `--parallel=N`, each of the N run slots gets its own share of
the machine's accelerators (CUDA_VISIBLE_DEVICES), or on CPU its own share of the forced host devices
(`--xla_force_host_platform_device_count`) and of the CPU cores (RECJAX_CPU_AFFINITY, applied by rec_jax.main before
JAX starts), so parallel runs neither fight over a device nor oversubscribe the cores."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Dict, List

from rec_jax.errors import UserError

AFFINITY_ENV = "RECJAX_CPU_AFFINITY"
_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def visible_devices() -> tuple:
  """(platform, local device count) as a child process would see them; asked in a subprocess so that the sweep
  itself never starts JAX (on a GPU that would take the memory its runs need)."""
  out = subprocess.run([sys.executable, "-c", "import jax; print(jax.default_backend(), jax.local_device_count())"],
                       capture_output=True, text=True, check=False)
  if out.returncode:
    raise UserError(f"could not list the JAX devices (python -c 'import jax' failed: "
                    f"{(out.stderr.strip().splitlines() or ['no output'])[-1]})")
  platform, count = out.stdout.split()[-2:]
  return platform, int(count)


def check_counts(parallel: int, devices_per_run: int) -> None:
  """The checks that need no device listing."""
  if parallel < 1:
    raise UserError(f"--parallel={parallel}: at least 1 run at a time")
  if devices_per_run < 0:
    raise UserError(f"--devices_per_run={devices_per_run}: a count of devices (0: an even share)")


def _split(items: List, parts: int) -> List[List]:
  size = len(items) // parts
  return [items[i * size:(i + 1) * size] for i in range(parts)]


def _with_device_count(xla_flags: str, count: int) -> str:
  rest = re.sub(rf"{_DEVICE_COUNT_FLAG}=\d+", "", xla_flags).strip()
  return f"{rest} {_DEVICE_COUNT_FLAG}={count}".strip()


def slot_environments(parallel: int, devices_per_run: int = 0) -> List[Dict[str, str]]:
  """One environment overlay per run slot. `devices_per_run=0`: the visible devices divided evenly (one run at a
  time: all of them). A count the machine cannot give is a UserError, before any run starts."""
  check_counts(parallel, devices_per_run)
  if parallel == 1 and not devices_per_run:
    return [{}]
  platform, count = visible_devices()
  if devices_per_run > count:
    raise UserError(f"--devices_per_run={devices_per_run}: only {count} {platform} device(s) are visible")
  per_run = devices_per_run or max(count // parallel, 1)
  if per_run * parallel > count and count > 1:
    raise UserError(f"--parallel={parallel} runs of {per_run} device(s) each need {per_run * parallel} devices; "
                    f"{count} {platform} device(s) are visible")
  if platform == "gpu":
    ids = os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(map(str, range(count)))).split(",")
    return [{"CUDA_VISIBLE_DEVICES": ",".join(part)} for part in _split(ids[:per_run * parallel], parallel)]
  if platform != "cpu":
    raise UserError(f"device subsets on {platform} are not supported by launch.sweep; use --parallel=1 and "
                    "--devices_per_run=0")
  envs = [{} for _ in range(parallel)]
  if count > 1:   # forced host devices: each run sees its share
    flags = _with_device_count(os.environ.get("XLA_FLAGS", ""), per_run)
    envs = [{"XLA_FLAGS": flags} for _ in range(parallel)]
  cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
  if len(cores) >= parallel:
    for env, part in zip(envs, _split(cores, parallel)):
      env[AFFINITY_ENV] = ",".join(map(str, part))
  return envs

