"""SPMD data parallelism: one `Mesh` with axes (data, model), batches sharded on `data`, parameters replicated.

The same code runs on one CPU, on forced host devices in tests, on many GPUs and, after
`jax.distributed.initialize()`, on many hosts: each host passes its local slice of the batch and
`make_array_from_process_local_data` assembles the global array.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rec_jax.errors import UserError

DATA, MODEL = "data", "model"


def make_mesh(num_devices: int = -1) -> Mesh:
  """A (data, model=1) mesh over the first `num_devices` devices (-1: all)."""
  devices = jax.devices()
  if num_devices > len(devices):
    raise UserError(f"parallel.num_devices={num_devices} but only {len(devices)} devices are visible")
  if num_devices > 0:
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices).reshape(-1, 1), (DATA, MODEL))


def data_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  per_process = batch_size // jax.process_count()
  if batch_size % (mesh.shape[DATA]) or batch_size % jax.process_count():
    raise UserError(f"batch size {batch_size} is not divisible by the {mesh.shape[DATA]} devices of the data "
                    f"axis (and {jax.process_count()} processes); per-process batch would be {per_process}")


def local_data_shards(mesh: Mesh) -> int:
  """How many devices this process's part of a batch is split over."""
  return max(mesh.shape[DATA] // jax.process_count(), 1)


def shard_batch(batch, mesh: Mesh):
  """Host-local numpy batch (any pytree, e.g. rec_jax/batch.py's Batch) -> global jax arrays sharded over the data
  axis."""
  sharding = data_sharding(mesh)
  return jax.tree.map(lambda v: jax.make_array_from_process_local_data(sharding, np.asarray(v)), batch)


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))
