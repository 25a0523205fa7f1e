"""The jitted SPMD train and predict steps: parameters replicated, batch sharded over the mesh's data axis.

The model's state comes in two parts (see models/frozen.py): `params` (nnx.Param, differentiated and optimised) and
`frozen` (every other variable, e.g. a frozen BERT's weights), which is read but never updated or donated.
"""

from __future__ import annotations

import jax
import optax
from flax import nnx

from rec_jax.parallel import data_sharding, replicated

# Batch columns that evaluation needs but the model never reads; kept on the host.
HOST_ONLY = ("rank_group", "oracle", "item_is_cold")


def device_inputs(batch):
  return {k: v for k, v in batch.items() if k not in HOST_ONLY}


def make_train_step(graphdef, tx: optax.GradientTransformation, task, mesh):
  """(params, frozen, opt_state, batch) -> (params, opt_state, {loss, grad_norm}); donates the old params and
  optimizer state."""

  def train_step(params, frozen, opt_state, batch):
    def loss_fn(p):
      logits = nnx.merge(graphdef, p, frozen)(batch)
      return task.loss(logits, batch["label"], batch["weight"])

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  rep, dat = replicated(mesh), data_sharding(mesh)
  return jax.jit(train_step, in_shardings=(rep, rep, rep, dat), out_shardings=(rep, rep, rep), donate_argnums=(0, 2))


def make_predict(graphdef, task, mesh):
  """(params, frozen, batch) -> predictions [batch], sharded like the batch."""

  def predict(params, frozen, batch):
    return task.predict(nnx.merge(graphdef, params, frozen)(batch))

  rep = replicated(mesh)
  return jax.jit(predict, in_shardings=(rep, rep, data_sharding(mesh)))
