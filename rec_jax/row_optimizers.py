"""Row-wise optimizers of id-embedding tables (`train.sparse_embeddings`): a step reads and writes only the rows a
batch touched (rec_jax/sparse_step.py gathers them, calls `update`, and scatters the result back in place).

Each entry of `ROW_OPTIMIZERS` turns the rows' gradient `g` [n, dim] (one row per distinct id, repeated ids summed,
already clipped with the dense gradients by one global norm), the rows themselves and their slices of the state into
new rows and state. `lr` is the step's learning rate (the run's schedule) times the table's `train.lr_multipliers`
factor; `count` is the step number, starting at 1.

- `lazy_adam`: Adam's first and second moments per element, updated only on the rows a step touches (TensorFlow
  Addons' LazyAdam, PyTorch's SparseAdam). A row's moments neither decay nor move on the steps it is absent, while
  dense Adam keeps stepping every row along its decaying momentum; bias correction uses the global step count. When
  every row is touched every step the two are the same (tests/test_row_optimizers.py). Decoupled weight decay
  `train.embedding_decay` shrinks the touched rows only. Memory: 2 floats per parameter, as dense Adam.
- `adagrad`: Adagrad's per-element sum of squared gradients. A row that is absent has zero gradient, which changes
  neither its sum nor its value, so this is exactly dense Adagrad (optax.adagrad), at the cost of the touched rows.
- `rowwise_adagrad`: one accumulator per row (the mean of the squared gradient over the row's elements; TorchRec's
  and FBGEMM's row-wise Adagrad): 1 float per row of state instead of `dim`, the usual choice for the largest
  tables.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Tuple

import jax
import jax.numpy as jnp

from rec_jax.registry import Registry

Rows = jax.Array                  # [n, dim]
State = Dict[str, jax.Array]      # per-table arrays with a leading row axis


@dataclasses.dataclass(frozen=True)
class RowOptimizer:
  """init(table [V, dim]) -> state {name: [V, ...]}; update(g, rows, state rows, lr, count) -> (rows, state rows)."""
  name: str
  init: Callable[[jax.Array], State]
  update: Callable[[Rows, Rows, State, jax.Array, jax.Array], Tuple[Rows, State]]


@dataclasses.dataclass(frozen=True)
class Hyper:
  """The hyper-parameters of the row optimizers, from the train section (the dense optimizer's own values)."""
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  decay: float = 0.0                     # decoupled weight decay of the touched rows (lazy_adam)
  adagrad_initial: float = 0.1           # optax.adagrad's initial_accumulator_value
  adagrad_eps: float = 1e-7              # optax.adagrad's eps


ROW_OPTIMIZERS: Registry[Callable[[Hyper], RowOptimizer]] = Registry("train.sparse_embeddings")


@ROW_OPTIMIZERS.register("lazy_adam")
def lazy_adam(h: Hyper) -> RowOptimizer:
  def init(table):
    return {"mu": jnp.zeros_like(table), "nu": jnp.zeros_like(table)}

  def update(g, rows, state, lr, count):
    mu = h.b1 * state["mu"] + (1 - h.b1) * g
    nu = h.b2 * state["nu"] + (1 - h.b2) * jnp.square(g)
    t = count.astype(jnp.float32)
    direction = (mu / (1 - h.b1 ** t)) / (jnp.sqrt(nu / (1 - h.b2 ** t)) + h.eps)
    return rows - lr * (direction + h.decay * rows), {"mu": mu, "nu": nu}

  return RowOptimizer("lazy_adam", init, update)


def _adagrad_step(g, sum_of_squares, eps):
  # optax.scale_by_rss: g / sqrt(sum + eps), 0 where the sum is 0.
  scale = jnp.where(sum_of_squares > 0, jax.lax.rsqrt(sum_of_squares + eps), 0.0)
  return scale * g


@ROW_OPTIMIZERS.register("adagrad")
def adagrad(h: Hyper) -> RowOptimizer:
  def init(table):
    return {"sum_of_squares": jnp.full_like(table, h.adagrad_initial)}

  def update(g, rows, state, lr, count):
    del count
    total = state["sum_of_squares"] + jnp.square(g)
    return rows - lr * _adagrad_step(g, total, h.adagrad_eps), {"sum_of_squares": total}

  return RowOptimizer("adagrad", init, update)


@ROW_OPTIMIZERS.register("rowwise_adagrad")
def rowwise_adagrad(h: Hyper) -> RowOptimizer:
  def init(table):
    return {"sum_of_squares": jnp.full(table.shape[:1] + (1,), h.adagrad_initial, table.dtype)}

  def update(g, rows, state, lr, count):
    del count
    total = state["sum_of_squares"] + jnp.mean(jnp.square(g), axis=-1, keepdims=True)
    return rows - lr * _adagrad_step(g, total, h.adagrad_eps), {"sum_of_squares": total}

  return RowOptimizer("rowwise_adagrad", init, update)

