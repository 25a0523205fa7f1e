"""`lr`: no feature interaction at all, so the hybrid's first-order linear term alone is logistic regression."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.options import NoOptions as Options


class NoInteraction(nnx.Module):
  """A zero-width cross: contributes nothing, and asks for no deep MLP beside it."""

  out_dim = 0
  parallel_deep = False

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to an empty [batch, 0]."""
    return jnp.zeros((fields.shape[0], 0), jnp.float32)


def build(num_fields: int, field_dim: int, options: Options, *, rngs: nnx.Rngs) -> NoInteraction:
  """Builds the empty cross; it has no options or parameters, so all arguments are ignored."""
  del num_fields, field_dim, options, rngs
  return NoInteraction()
