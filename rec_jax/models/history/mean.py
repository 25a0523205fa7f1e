"""`mean`: the mean of the history's item embeddings."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.options import NoOptions as Options


class MeanHistory(nnx.Module):
  """Mean of the embeddings of the real (unpadded) history items; zeros for an empty history."""

  objective = None
  reads_target = False

  def __init__(self, dim: int, options: Options = Options(), *, rngs: nnx.Rngs):
    del dim, options, rngs  # No parameters, no options.

  def __call__(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array] = None) -> jax.Array:
    """items: [batch, length, dim]; mask: [batch, length] (True/1 real); target is unused -> [batch, dim]."""
    del target
    mask = mask.astype(items.dtype)[..., None]
    return jnp.sum(items * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)


Encoder = MeanHistory
