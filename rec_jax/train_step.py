"""The jitted SPMD train and predict steps: parameters replicated, batch sharded over the mesh's data axis.

The model's state comes in two parts (see text/frozen.py): `params` (nnx.Param, differentiated and optimised) and
`frozen` (every other variable, e.g. a frozen BERT's weights), which is read but never updated or donated.
The train step runs the model's training view (`graphdef` of `model.train()`: dropout on), its dropout stream
keyed by the step's key; evaluation and prediction run the evaluation view (dropout off).
"""

from __future__ import annotations

import jax
import optax
from flax import nnx

from rec_jax.models.dropout import reseed
from rec_jax.models.id_embedding import with_embedding_penalty
from rec_jax.parallel import data_sharding, replicated
from rec_jax.sparse_step import SparseOptimizer, sparse_train_step

# fold_in index of the dropout key within a step's key (the task's own draws use the key itself).
_DROPOUT = 1


def make_train_step(graphdef, tx, task, mesh, options, embedding_l2: float = 0.0, shardings=None):
  """(params, frozen, opt_state, batch, rng) -> (params, opt_state, {loss, grad_norm}); donates the old params and
  optimizer state. `rng` is the step's key (negative sampling, masking, dropout); `options` the task's Options.
  `graphdef`: the model's training view (module docstring). `embedding_l2` (`train.embedding_l2`) weighs the squared
  norm of the id-embedding rows the batch looks up (models/id_embedding.py); the logged loss is the task's own.
  `tx`: an optax transformation of all parameters, or a SparseOptimizer (`train.sparse_embeddings`:
  rec_jax/sparse_step.py updates the id tables row by row). `shardings`: (the parameters', the optimizer state's),
  pytrees of shardings (parallel.state_shardings: row-sharded tables); None: both replicated."""
  if isinstance(tx, SparseOptimizer):
    train_step = sparse_train_step(graphdef, tx, task, options, embedding_l2, _DROPOUT)
  else:
    train_step = dense_train_step(graphdef, tx, task, options, embedding_l2)
  rep, dat = replicated(mesh), data_sharding(mesh)
  params, opt_state = shardings or (rep, rep)
  return jax.jit(train_step, in_shardings=(params, rep, opt_state, dat, rep), out_shardings=(params, opt_state, rep),
                 donate_argnums=(0, 2))


def dense_train_step(graphdef, tx: optax.GradientTransformation, task, options, embedding_l2: float):
  """The un-jitted step of make_train_step with one optax transformation of every parameter."""

  def train_step(params, frozen, opt_state, batch, rng):
    # The step's dropout keys, set outside the differentiated function.
    model = nnx.merge(graphdef, params, frozen)
    reseed(model, jax.random.fold_in(rng, _DROPOUT))
    stepped = nnx.split(model, nnx.Param, ...)[2]

    task_loss = with_embedding_penalty(lambda model: task.loss(model, batch, rng, options))

    def loss_fn(p):
      loss, penalty = task_loss(nnx.merge(graphdef, p, stepped))
      return loss + embedding_l2 * penalty, loss

    (_, loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  return train_step


def step_key(seed: int, step: int):
  """The random key of global step `step`: a pure function of (seed, step), so a resumed run draws the same."""
  return jax.random.fold_in(jax.random.key(seed), step)


def make_apply(graphdef, method: str, mesh):
  """(params, frozen, batch) -> model.<method>(batch) (`__call__`: a pointwise score), sharded like the batch;
  the parameters stay where they are (replicated, or tables row-sharded)."""

  def apply(params, frozen, batch):
    return getattr(nnx.merge(graphdef, params, frozen), method)(batch)

  return jax.jit(apply, in_shardings=(None, None, data_sharding(mesh)))


def make_predict(graphdef, task, mesh):
  """(params, frozen, batch) -> the task's predictions [batch] (pointwise tasks), sharded like the batch; the
  parameters stay where they are."""

  def predict(params, frozen, batch):
    return task.score(nnx.merge(graphdef, params, frozen), batch)

  return jax.jit(predict, in_shardings=(None, None, data_sharding(mesh)))
