"""The jitted SPMD train and predict steps: parameters replicated, batch sharded over the mesh's data axis."""

from __future__ import annotations

import jax
import optax
from flax import nnx

from rec_jax.parallel import data_sharding, replicated

# Batch columns that evaluation needs but the model never reads; kept on the host.
HOST_ONLY = ("user_group", "oracle", "item_is_cold")


def device_inputs(batch):
  return {k: v for k, v in batch.items() if k not in HOST_ONLY}


def make_train_step(graphdef, tx: optax.GradientTransformation, task, mesh):
  """(params, opt_state, batch) -> (params, opt_state, {loss, grad_norm}); donates the old state."""

  def train_step(params, opt_state, batch):
    def loss_fn(p):
      logits = nnx.merge(graphdef, p)(batch)
      return task.loss(logits, batch["label"], batch["weight"])

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

  rep, dat = replicated(mesh), data_sharding(mesh)
  return jax.jit(train_step, in_shardings=(rep, rep, dat), out_shardings=(rep, rep, rep), donate_argnums=(0, 1))


def make_predict(graphdef, task, mesh):
  """(params, batch) -> predictions [batch], sharded like the batch."""

  def predict(params, batch):
    return task.predict(nnx.merge(graphdef, params)(batch))

  return jax.jit(predict, in_shardings=(replicated(mesh), data_sharding(mesh)))
