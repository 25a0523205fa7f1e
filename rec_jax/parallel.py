"""SPMD parallelism: one `Mesh` with axes (data, model); batches are sharded on `data`; id-embedding tables are
sharded by rows on `model` (`parallel.model_axis` devices), every other parameter is replicated.

The same code runs on one CPU, on forced host devices in tests, on many GPUs and, after
`jax.distributed.initialize()` (rec_jax/distributed.py), on many processes: each builds only its share of every
global batch (`batch_share`: the rows its devices hold on the data axis), `make_array_from_process_local_data`
assembles the global array, and `to_host` gathers outputs sharded over all processes to every one of them.

Row-sharded tables: a table of V rows on a model axis of m devices holds V/m rows per device (and so do its
optimizer state's rows); lookups and row updates inside the jitted steps are partitioned by XLA's SPMD partitioner
(each device gathers the ids that fall in its rows, a sum over the model axis assembles them). A table is sharded
when it has at least `parallel.shard_min_rows` rows and m divides them; other tables are replicated (the log says
which). The data axis then has `devices / m` devices: a 4-device machine runs 4x1, 2x2 or 1x4 (data x model), with
the same results up to float rounding (tests/test_mesh_sharding.py).
"""

from __future__ import annotations

from typing import Dict

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from rec_jax.data.pipeline import BatchShare
from rec_jax.errors import UserError

DATA, MODEL = "data", "model"


def make_mesh(num_devices: int = -1, model_axis: int = 1) -> Mesh:
  """A (data, model) mesh over the first `num_devices` devices (-1: all), `model_axis` of them on the model axis."""
  devices = jax.devices()
  if num_devices > len(devices):
    raise UserError(f"parallel.num_devices={num_devices} but only {len(devices)} devices are visible")
  if num_devices > 0:
    devices = devices[:num_devices]
  if model_axis < 1 or len(devices) % model_axis:
    raise UserError(f"parallel.model_axis={model_axis} does not divide the {len(devices)} devices of the mesh "
                    "(parallel.num_devices)")
  return Mesh(np.asarray(devices).reshape(-1, model_axis), (DATA, MODEL))


def data_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  per_process = batch_size // jax.process_count()
  if batch_size % (mesh.shape[DATA]) or batch_size % jax.process_count():
    raise UserError(f"batch size {batch_size} is not divisible by the {mesh.shape[DATA]} devices of the data "
                    f"axis (and {jax.process_count()} processes); per-process batch would be {per_process}")


def batch_share(mesh: Mesh) -> BatchShare:
  """This process's share of every global batch (data/pipeline.py): the rows of the data axis its devices hold,
  and over how many devices they are split. jax.devices() lists each process's devices together, so that is one
  contiguous block of the data axis (the whole axis for a single process, or when the model axis spans the
  processes)."""
  me = jax.process_index()
  mine = [i for i, row in enumerate(mesh.devices) if any(d.process_index == me for d in row)]
  data = mesh.shape[DATA]
  if not mine or mine != list(range(mine[0], mine[0] + len(mine))) or data % len(mine) or mine[0] % len(mine):
    raise UserError(f"process {me} holds rows {mine} of the {data}-device data axis: each process needs an equal, "
                    "contiguous block of it (use all devices: parallel.num_devices=-1)")
  return BatchShare(devices=len(mine), index=mine[0] // len(mine), count=data // len(mine))


def shard_batch(batch, mesh: Mesh):
  """This process's share of a batch (host numpy, any pytree, e.g. rec_jax/batch.py's Batch; the whole batch for
  one process) -> global jax arrays sharded over the data axis."""
  sharding = data_sharding(mesh)
  return jax.tree.map(lambda v: jax.make_array_from_process_local_data(sharding, np.asarray(v)), batch)


def to_host(tree):
  """Numpy copies of the arrays of `tree`, whole on every process: an array sharded over several processes is
  gathered (a collective: every process calls this alike); anything else is copied from local devices."""

  def host(x):
    if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
      return multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)

  return jax.tree.map(host, tree)


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))


def _leaf_name(path) -> str:
  """The dict keys of a pytree path, joined: 'fields/tables/C1/embedding' for a parameter and for its Adam moments
  (their paths add tuple and attribute keys), 'rows/fields/tables/C1/embedding/mu' for a sparse row state."""
  return "/".join(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))


def sharded_tables(mesh: Mesh, tables: Dict[str, int], min_rows: int) -> Dict[str, int]:
  """Of `tables` ({path name: rows}, the model's id tables), those sharded by rows over the mesh's model axis."""
  m = mesh.shape[MODEL]
  if m == 1:
    return {}
  chosen = {name: rows for name, rows in tables.items() if rows >= min_rows and rows % m == 0}
  left = sorted(set(tables) - set(chosen))
  logging.info("row-sharded over %d model devices: %s; replicated: %s (fewer than parallel.shard_min_rows=%d rows, "
               "or rows not a multiple of %d: set parallel.table_row_multiple to a multiple of it)", m,
               sorted(chosen) or "none", left or "none", min_rows, m)
  return chosen


def state_shardings(mesh: Mesh, tree, tables: Dict[str, int]):
  """The sharding of every leaf of `tree` (parameters, optimizer state): rows over the model axis for a sharded
  table (`tables`: path name -> rows, from `sharded_tables`) and each leaf of its optimizer state with as many
  rows; replicated otherwise."""
  rows_sharded, rep = NamedSharding(mesh, P(MODEL)), replicated(mesh)

  def sharding(path, leaf):
    name, shape = _leaf_name(path), np.shape(leaf)
    for table, rows in tables.items():
      if (name == table or name.endswith("/" + table) or f"/{table}/" in f"/{name}/") and shape[:1] == (rows,):
        return rows_sharded
    return rep

  return jax.tree_util.tree_map_with_path(sharding, tree)


def place(tree, shardings):
  """`tree`'s arrays on the mesh, each with its sharding (a pytree like `tree`, or one sharding for all)."""
  return jax.device_put(tree, shardings)
