"""Sparse embedding updates (`train.sparse_embeddings`): id tables are updated row by row, at the cost of the rows a
batch touches, while every other parameter keeps the dense AdamW chain of rec_jax/optim.py.

Dense training differentiates the loss with respect to every table: the gradient of a [V, dim] table is a [V, dim]
array that is zero except on the batch's rows, and Adam then reads and writes all V rows of the table and of its two
moments on every step (3.6 s per step at 8M rows of 16 on this 2-core CPU, measured in issue 18). A sparse step:

1. runs the task's loss once with `recording_lookups()` (models/id_embedding.py) only to learn which ids each table
   is looked up with; nothing of that pass but the ids is used, so XLA drops the rest of it;
2. per table, the distinct ids (`jnp.unique` with a static size: the number of lookups, padded with V) and their
   rows, gathered into a compact [n, dim] table;
3. differentiates the loss with respect to the dense parameters and the compact tables (`compact_lookups()`: each
   table holds only its rows), so a table's gradient is one row per distinct id, repeated ids summed, exactly the
   non-zero rows of the dense gradient;
4. clips all gradients by one global norm (as optax.clip_by_global_norm does on the dense path), updates the dense
   parameters with the dense chain and the rows with the row optimizer (rec_jax/row_optimizers.py), and scatters
   the rows and their optimizer state back into the (donated) tables in place; padding ids V are dropped.

The step's learning rate is the run's schedule at the step count; a table's `train.lr_multipliers` factor applies
to its rows. A table the model reads whole in training (a full softmax) cannot be updated row by row: that is a
named error (IdEmbed.full_table).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Tuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.models.dropout import reseed
from rec_jax.models.id_embedding import IdEmbed, compact_lookups, recording_lookups, with_embedding_penalty
from rec_jax.optim import LrFactors, learning_rate_schedule, make_optimizer
from rec_jax.row_optimizers import ROW_OPTIMIZERS, Hyper, RowOptimizer

Path = Tuple[str, ...]


def table_paths(model: nnx.Module) -> Tuple[Path, ...]:
  """The state paths of the model's id tables (IdEmbed's `embedding` Params), in graph order."""
  return tuple(tuple(path) + ("embedding",) for path, node in nnx.iter_graph(model) if isinstance(node, IdEmbed))


def table_rows(model: nnx.Module) -> Dict[str, int]:
  """{path name: rows} of the model's id tables."""
  return {path_name(path): node.num_embeddings for path, node in _tables_by_path(model).items()}


def _tables_by_path(model: nnx.Module) -> Dict[Path, IdEmbed]:
  return {tuple(path) + ("embedding",): node for path, node in nnx.iter_graph(model) if isinstance(node, IdEmbed)}


def path_name(path: Path) -> str:
  return "/".join(str(k) for k in path)


@dataclasses.dataclass(frozen=True)
class SparseOptimizer:
  """The optimizer of a sparse run: `dense` (optax, without clipping) for every parameter but the `tables`, whose
  rows `rows` updates; one global-norm clip of both at `clip_norm`; `schedule` the learning rate by step;
  `factors` each table's lr multiplier. `init(params)` is the optimizer state checkpoints hold."""
  dense: optax.GradientTransformation
  rows: RowOptimizer
  tables: Tuple[Path, ...]
  schedule: optax.Schedule
  factors: Mapping[Path, float]
  clip_norm: float

  def _is_table(self, path, _value) -> bool:
    return tuple(path) in self.tables

  def split(self, params: nnx.State) -> Tuple[Dict[Path, nnx.Variable], nnx.State]:
    """(the tables' Params by path, every other parameter)."""
    tables, rest = nnx.split_state(params, self._is_table, ...)
    return {tuple(p): v for p, v in nnx.to_flat_state(tables)}, rest

  def init(self, params: nnx.State):
    tables, rest = self.split(params)
    return {"dense": self.dense.init(rest), "count": jnp.zeros([], jnp.int32),
            "rows": {path_name(p): self.rows.init(v[...]) for p, v in tables.items()}}


def check_sparse_options(train_cfg) -> None:
  """`train.sparse_embeddings` names a row optimizer and is not combined with an option it contradicts."""
  if not train_cfg.get("sparse_embeddings", ""):
    return
  ROW_OPTIMIZERS.get(train_cfg.sparse_embeddings)
  if train_cfg.get("embedding_table_l2", 0.0):
    raise UserError(f"train.embedding_table_l2={train_cfg.embedding_table_l2} decays every row of every table on "
                    f"every step, which train.sparse_embeddings={train_cfg.sparse_embeddings!r} exists to avoid: "
                    "use train.embedding_l2 (the rows a batch looks up) or train.embedding_decay (the touched rows)")


def make_sparse_optimizer(train_cfg, model: nnx.Module) -> SparseOptimizer:
  """The optimizer of `train.sparse_embeddings` (a ROW_OPTIMIZERS name) for `model`'s id tables; every other
  parameter keeps make_optimizer's chain (its clipping done here, over all gradients)."""
  check_sparse_options(train_cfg)
  rows = ROW_OPTIMIZERS.get(train_cfg.sparse_embeddings)(
      Hyper(b1=train_cfg.beta1, b2=train_cfg.beta2, decay=train_cfg.embedding_decay))
  tables = table_paths(model)
  factor = LrFactors(dict(train_cfg.lr_multipliers))
  dense = make_optimizer(train_cfg, clip=False, elsewhere=[path_name(p) for p in tables])
  return SparseOptimizer(dense=dense, rows=rows, tables=tables, schedule=learning_rate_schedule(train_cfg),
                         factors={p: factor(path_name(p)) for p in tables}, clip_norm=train_cfg.grad_clip_norm)


def _clip(grads, max_norm: float):
  """optax.clip_by_global_norm's rule: (grads scaled to norm `max_norm` if larger, their norm before)."""
  norm = optax.tree.norm(grads)
  keep = norm < max_norm
  return jax.tree.map(lambda g: jax.lax.select(keep, g, (g / norm.astype(g.dtype)) * max_norm), grads), norm


def _distinct(ids, num_rows: int) -> jax.Array:
  """The distinct ids of `ids` ascending, padded to its size with `num_rows` (an id no table row has)."""
  flat = ids.reshape(-1).astype(jnp.int32)
  return jnp.unique(flat, size=flat.size, fill_value=num_rows)


def sparse_train_step(graphdef, opt: SparseOptimizer, task, options, embedding_l2: float, dropout_fold: int):
  """The un-jitted step (params, frozen, opt_state, batch, rng) -> (params, opt_state, {loss, grad_norm}) of
  train_step.make_train_step when the optimizer is a SparseOptimizer."""

  def train_step(params, frozen, opt_state, batch, rng):
    task_loss = with_embedding_penalty(lambda model: task.loss(model, batch, rng, options))
    model = nnx.merge(graphdef, params, frozen)
    reseed(model, jax.random.fold_in(rng, dropout_fold))
    stepped = nnx.split(model, nnx.Param, ...)[2]
    # 1. Which ids each table is looked up with (the pass's loss is not used: XLA drops it).
    with recording_lookups() as recorded:
      task.loss(model, batch, rng, options)
    looked_up = {path: recorded.get(id(node), []) for path, node in _tables_by_path(model).items()}
    # 2. The rows each table's batch touches.
    tables, rest = opt.split(params)
    rows, compact = {}, {}
    for path, var in tables.items():
      table = var[...]
      ids = looked_up.get(path, [])
      rows[path] = (_distinct(jnp.concatenate([i.reshape(-1) for i in ids]), table.shape[0]) if ids
                    else jnp.zeros((0,), jnp.int32))
      compact[path] = table.at[rows[path]].get(mode="fill", fill_value=0)

    # 3. Gradients of the dense parameters and of the compact tables.
    def loss_fn(rest_params, compact_tables):
      compact_state = nnx.from_flat_state([(p, tables[p].replace(compact_tables[p])) for p in tables])
      model = nnx.merge(graphdef, nnx.merge_state(rest_params, compact_state), stepped)
      by_module = {id(node): rows[path] for path, node in _tables_by_path(model).items() if path in rows}
      with compact_lookups(by_module):
        loss, penalty = task_loss(model)
      return loss + embedding_l2 * penalty, loss

    (_, loss), grads = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(rest, compact)
    # 4. One clip, then each part's optimizer.
    (rest_grads, row_grads), norm = _clip(grads, opt.clip_norm)
    updates, dense_state = opt.dense.update(rest_grads, opt_state["dense"], rest)
    rest = optax.apply_updates(rest, updates)
    lr, count = opt.schedule(opt_state["count"]), opt_state["count"] + 1
    new_tables, row_states = [], {}
    for path, var in tables.items():
      index, name = rows[path], path_name(path)
      state = opt_state["rows"][name]
      gathered = {k: v.at[index].get(mode="fill", fill_value=0) for k, v in state.items()}
      new_rows, new_state = opt.rows.update(row_grads[path], compact[path], gathered, lr * opt.factors[path], count)
      new_tables.append((path, var.replace(var[...].at[index].set(new_rows.astype(var[...].dtype), mode="drop"))))
      row_states[name] = {k: state[k].at[index].set(new_state[k], mode="drop") for k in state}
    params = nnx.merge_state(rest, nnx.from_flat_state(new_tables)) if new_tables else rest
    return params, {"dense": dense_state, "count": count, "rows": row_states}, {"loss": loss, "grad_norm": norm}

  return train_step

