"""Many processes (hosts) on JAX's own runtime: `initialize()` joins them before JAX starts its backend, and the
roles of the processes in a run that shares one workdir.

Launching. Every process runs the same command with the same config and the same --workdir; what tells it that it
is one of many is its environment, read by `initialize()` (rec_jax.main calls it first):

- `JAX_COORDINATOR_ADDRESS` (host:port of process 0, reachable by all), `JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`
  (0 .. N-1): all three, or none; optionally `JAX_LOCAL_DEVICE_IDS` (comma-separated: the accelerators this
  process uses; JAX reads it). Two processes on one machine, each with 2 CPU devices:

    export JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=2
    export JAX_COORDINATOR_ADDRESS=127.0.0.1:12355 JAX_NUM_PROCESSES=2
    JAX_PROCESS_ID=0 python -m rec_jax.main --config=configs/synthetic.py:smoke --workdir=/shared/run &
    JAX_PROCESS_ID=1 python -m rec_jax.main --config=configs/synthetic.py:smoke --workdir=/shared/run

- SLURM: with none of the three set, JAX's own cluster detection reads `SLURM_*` (job id, step node list, tasks,
  task id, local id; coordinator = the step's first node, port from the job id unless `JAX_COORDINATOR_PORT`):
  one task per host (or per accelerator), all with the same command:

    srun --nodes=2 --ntasks-per-node=1 python -m rec_jax.main --config=configs/x.py --workdir=/shared/run

  Run it with `srun`: a batch script's own shell also has SLURM_NTASKS > 1 and would wait for its peers.
- Nothing set (or one process): a single process, nothing is initialised.
On CPU the processes' collectives run over Gloo (`jax_cpu_collectives_implementation`, unless
JAX_CPU_COLLECTIVES_IMPLEMENTATION chooses another). JAX's preemption service is off (unless
JAX_ENABLE_PREEMPTION_SERVICE is set): it would swallow SIGTERM; a stopped run resumes from its checkpoints.

One run, one workdir. All processes share the workdir on a filesystem they all see (as they share the data cache
`data.data_dir`):
- every process prepares the data itself (it is deterministic; process 0 reads the source first, so a dataset
  built on first use is built once: `primary_first`), builds the model and the same global batches, and feeds
  only its share of each (parallel.batch_share: its devices' rows of the data axis); a step's loss is that of one
  process up to float rounding;
- evaluation gathers each batch's predictions to every process (parallel.to_host), so every process computes the
  same metrics;
- checkpoints: orbax's CheckpointManager is multi-process aware (each process writes its shards, process 0 the
  metadata, commits are synchronised); every process calls it alike;
- the run's JSON files (config.json, metrics.jsonl, results.json, data_report.json, feature_processor.json,
  data_fingerprint.json, checkpoint digests) and the TensorBoard events are written by process 0 only; decisions
  that read them (the workdir's config check, early stopping) are process 0's, shared with the others
  (`on_primary`), so every process takes the same branch and a refusal stops all of them;
- the workdir lock (workdir.WorkdirLock) is per process (`.run.lock`, `.run.lock.1`, ...): the processes of one
  run do not exclude each other, a second run on the same workdir is refused by all of them.
A process that fails on its own (a bug, a full disk) leaves the others waiting in their next collective until
JAX's heartbeat timeout ends them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import socket
import sys
import time
from typing import Callable, Mapping, Optional, Tuple, TypeVar

from rec_jax.errors import UserError

T = TypeVar("T")

ADDRESS, NUM_PROCESSES, PROCESS_ID = "JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"
LOCAL_DEVICE_IDS = "JAX_LOCAL_DEVICE_IDS"
COLLECTIVES = "JAX_CPU_COLLECTIVES_IMPLEMENTATION"
PREEMPTION = "JAX_ENABLE_PREEMPTION_SERVICE"
# What JAX's SLURM detection (jax/_src/clusters/slurm_cluster.py) needs, all of them.
SLURM = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
# How long a process other than 0 waits for process 0's coordinator to accept connections (JAX's own default
# initialization timeout); JAX itself would then abort the process with a C++ stack trace.
COORDINATOR_WAIT_S = 300.0
# Plain ASCII digits: int() also takes "1_0", "+1" and other scripts' digits, which no launcher writes.
_DIGITS = re.compile(r"[0-9]+")


@dataclasses.dataclass(frozen=True)
class Launch:
  """A multi-process launch read from the environment: `source` "env" (our variables, all given) or "slurm"
  (every field None: JAX detects them)."""
  source: str
  coordinator_address: Optional[str] = None
  num_processes: Optional[int] = None
  process_id: Optional[int] = None
  local_device_ids: Optional[Tuple[int, ...]] = None


def _integer(env: Mapping[str, str], name: str, low: int) -> int:
  value = env[name].strip()
  number = int(value) if _DIGITS.fullmatch(value) else None
  if number is None or number < low:
    raise UserError(f"{name}={env[name]!r} is not an integer >= {low}")
  return number


def _address(value: str) -> str:
  host, _, port = value.strip().rpartition(":")
  if not host or not _DIGITS.fullmatch(port) or not 0 < int(port) < 65536:
    raise UserError(f"{ADDRESS}={value!r} is not host:port (e.g. 10.0.0.1:12355, the address of process 0)")
  return value.strip()


def _device_ids(value: str) -> Tuple[int, ...]:
  parts = [p.strip() for p in value.split(",")]
  if not all(_DIGITS.fullmatch(p) for p in parts):
    raise UserError(f"{LOCAL_DEVICE_IDS}={value!r} is not a comma-separated list of device numbers (e.g. 0,1)")
  return tuple(int(p) for p in parts)


def launch_from_env(env: Mapping[str, str] = os.environ) -> Optional[Launch]:
  """The multi-process launch the environment describes (module docstring), or None for a single process. Partial
  or malformed settings are a UserError naming the variable."""
  ours = [name for name in (ADDRESS, NUM_PROCESSES, PROCESS_ID) if env.get(name, "").strip()]
  devices = _device_ids(env[LOCAL_DEVICE_IDS]) if env.get(LOCAL_DEVICE_IDS, "").strip() else None
  if ours and len(ours) < 3:
    missing = [name for name in (ADDRESS, NUM_PROCESSES, PROCESS_ID) if name not in ours]
    raise UserError(f"{' and '.join(ours)} set but not {' and '.join(missing)}: a multi-process run needs all "
                    f"three ({ADDRESS}, {NUM_PROCESSES}, {PROCESS_ID}), or none of them (one process, or SLURM)")
  if ours:
    address = _address(env[ADDRESS])
    count = _integer(env, NUM_PROCESSES, 1)
    index = _integer(env, PROCESS_ID, 0)
    if index >= count:
      raise UserError(f"{PROCESS_ID}={index} is not below {NUM_PROCESSES}={count} (process ids are 0 .. "
                      f"{count - 1})")
    return Launch("env", address, count, index, devices) if count > 1 else None
  if all(env.get(name, "").strip() for name in SLURM):
    count = _integer(env, "SLURM_NTASKS", 1)
    index = _integer(env, "SLURM_PROCID", 0)
    if index >= count:
      raise UserError(f"SLURM_PROCID={index} is not below SLURM_NTASKS={count}")
    return Launch("slurm", local_device_ids=devices) if count > 1 else None
  if devices is not None:
    raise UserError(f"{LOCAL_DEVICE_IDS} is set but this is no multi-process launch: set {ADDRESS}, "
                    f"{NUM_PROCESSES} and {PROCESS_ID} too (or launch with SLURM's srun), or unset it")
  return None


def _reach_coordinator(launch: Launch, wait_s: Optional[float] = None) -> None:
  """Before JAX joins (which aborts the process with a C++ stack trace when it cannot): the coordinator's host
  must resolve, and a process other than 0 waits (up to COORDINATOR_WAIT_S) for process 0 to accept connections
  there; a UserError names the address otherwise."""
  wait_s = COORDINATOR_WAIT_S if wait_s is None else wait_s
  host, _, port = launch.coordinator_address.rpartition(":")
  host = host.strip("[]")   # [::1]:1234
  try:
    socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
  except socket.gaierror as e:
    raise UserError(f"{ADDRESS}={launch.coordinator_address!r}: the host {host!r} does not resolve ({e.strerror}); "
                    "set it to the address of process 0's machine") from None
  if launch.process_id == 0:
    return   # process 0 starts the coordinator
  deadline, logged = time.monotonic() + wait_s, time.monotonic()
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=5):
        return
    except OSError as e:
      now = time.monotonic()
      if now >= deadline:
        raise UserError(f"process {launch.process_id} of {launch.num_processes} could not reach the coordinator at "
                        f"{ADDRESS}={launch.coordinator_address!r} within {wait_s:g} s ({e.strerror or e}): start "
                        f"process 0 ({PROCESS_ID}=0) with the same {ADDRESS}, or fix the address") from None
      if now - logged >= 30:
        logging.info("waiting for process 0's coordinator at %s (%s)", launch.coordinator_address, e)
        logged = now
      time.sleep(min(1.0, max(deadline - now, 0.0)))


def _jax():
  """jax, if this process imported it: until then no process group can exist (launch/ never imports it)."""
  return sys.modules.get("jax")


def initialize(env: Mapping[str, str] = os.environ) -> bool:
  """Joins this process to its peers (`jax.distributed.initialize`) when the environment describes a
  multi-process launch; must run before JAX starts its backend. Returns whether the run is multi-process. A
  second call (or a process group someone else started) changes nothing."""
  launch = launch_from_env(env)
  if launch is None:
    return False
  import jax  # pylint: disable=import-outside-toplevel  (rec_jax.main imports JAX only once the flags parse)
  from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  if jax.distributed.is_initialized():
    return True
  if launch.source == "env":
    _reach_coordinator(launch)
  if xla_bridge.backends_are_initialized():
    raise UserError("a multi-process run must join its peers before JAX starts its backend: call "
                    "rec_jax.distributed.initialize() first (rec_jax.main does)")
  if COLLECTIVES not in env:   # Gloo: cross-process collectives of the CPU backend (JAX 0.10's default too).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if PREEMPTION not in env:
    # JAX's preemption notifier catches SIGTERM and waits for a sync point, which rec_jax never reaches (it resumes
    # from its checkpoints instead): with it, `kill`, scancel or a sweep's timeout would leave the run running.
    jax.config.update("jax_enable_preemption_service", False)
  if launch.source == "env":
    # All given: JAX's cluster detection stays out (a SLURM allocation must not override them).
    jax.distributed.initialize(launch.coordinator_address, launch.num_processes, launch.process_id,
                               local_device_ids=list(launch.local_device_ids) if launch.local_device_ids else None,
                               cluster_detection_method="deactivate")
  else:
    jax.distributed.initialize()
  # Not jax.process_index(): that would start the backend here, before the caller is done configuring it.
  logging.info("joined %s processes as process %s (%s launch, coordinator %s)",
               launch.num_processes or env.get("SLURM_NTASKS"), launch.process_id if launch.source == "env" else
               env.get("SLURM_PROCID"), launch.source, launch.coordinator_address or "from SLURM")
  return True


def is_multi_process() -> bool:
  jax = _jax()
  return jax is not None and jax.distributed.is_initialized() and jax.process_count() > 1


def process_index() -> int:
  """This process's index (0 when it is the only one); starts the backend only in a multi-process run."""
  return _jax().process_index() if is_multi_process() else 0


def is_primary() -> bool:
  """Whether this process writes the run's shared files (process 0; the only process of a one-process run)."""
  return process_index() == 0


def _broadcast(payload: Optional[bytes]) -> bytes:
  """Process 0's `payload` on every process (the others pass None): its length, then its bytes."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  size = int(multihost_utils.broadcast_one_to_all(np.asarray(len(payload) if payload is not None else 0, np.int64)))
  data = np.frombuffer(payload, np.uint8) if payload is not None else np.zeros(size, np.uint8)
  return bytes(np.asarray(multihost_utils.broadcast_one_to_all(data), np.uint8))


def _share_outcome(what: str, run: Callable[[], T]) -> Tuple[bool, T]:
  """Process 0 runs `run` and tells every process how it went: (True, its JSON-able result) everywhere; when it
  raised, it re-raises there and the others raise a UserError naming `what` and process 0's error line."""
  if is_primary():
    try:
      value = run()
    except BaseException as e:
      _broadcast(json.dumps({"error": f"{type(e).__name__}: {e}" if not isinstance(e, UserError) else str(e),
                             "user": isinstance(e, (UserError, OSError))}).encode())
      raise
    _broadcast(json.dumps({"value": value}).encode())
    return True, value
  outcome = json.loads(_broadcast(None).decode())
  if "error" in outcome:
    line = f"process 0 failed {what}: {outcome['error']}"
    raise UserError(line) if outcome["user"] else RuntimeError(line)
  return False, outcome["value"]


def on_primary(run: Callable[[], T], what: str) -> T:
  """`run()` on process 0 only (it writes or decides for the run), its result (JSON-able) on every process; an
  error there stops every process (`what`: the step, for their error line). One process: just `run()`."""
  if not is_multi_process():
    return run()
  return _share_outcome(what, run)[1]


def primary_first(run: Callable[[], T], what: str) -> T:
  """`run()` on every process, on process 0 before the others: what it creates on first use (a dataset built
  into the shared data cache, evaluation negatives drawn into the workdir) is created once, then read by all.
  An error on process 0 stops every process. One process: just `run()`."""
  if not is_multi_process():
    return run()
  if is_primary():
    result = None

    def first():
      nonlocal result
      result = run()
      return None

    _share_outcome(what, first)
    return result
  _share_outcome(what, lambda: None)
  return run()
