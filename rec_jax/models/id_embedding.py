"""Id embedding tables whose lookups can be L2-regularised in the loss (`train.embedding_l2`).

The penalty is the one of RecBole's `EmbLoss` and of SGD matrix factorisation (Funk, Koren; Surprise's SVD): the
squared norm of the rows a batch looks up, averaged over the batch, so a row is pulled towards zero in proportion to
how often it is used, and rows the batch does not touch are left alone (a decay of the whole table, `embedding_decay`,
shrinks rare rows on every step, whether they appear or not).

`IdEmbed` records that squared norm only in the training view (models are built in evaluation mode; the train step
runs `model.train()`, see train_step.py), as an `nnx.Intermediate` that `with_embedding_penalty` captures.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
from flax import nnx


class EmbeddingPenalty(nnx.Intermediate):
  """The squared norm of one lookup's rows, summed, per batch row (a scalar)."""


class IdEmbed(nnx.Embed):
  """nnx.Embed (ids [batch, ...] -> [batch, ..., features]) that, in training, records the lookup's
  sum of squares / batch."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.deterministic = True   # records nothing until model.train() (the train step's view)

  def __call__(self, inputs: jax.Array) -> jax.Array:
    out = super().__call__(inputs)
    if not self.deterministic:
      batch = max(int(inputs.shape[0]), 1) if inputs.ndim else 1
      self.sow(EmbeddingPenalty, "squared_norm", jnp.sum(jnp.square(out.astype(jnp.float32))) / batch)
    return out


def with_embedding_penalty(fn: Callable[..., Any]) -> Callable[..., Tuple[Any, jax.Array]]:
  """fn(model, *args) -> (fn's result, the sum of the squared norms the model's IdEmbed tables recorded in it)."""
  captured = nnx.capture(fn, EmbeddingPenalty)

  def wrapped(model: nnx.Module, *args):
    result, recorded = captured(model, *args)
    leaves = jax.tree_util.tree_leaves(recorded)
    return result, sum((jnp.sum(jnp.asarray(v)) for v in leaves), jnp.zeros((), jnp.float32))

  return wrapped
