"""Behaviour-history encoders, chosen by `model.history`: [batch, length, dim] item vectors -> [batch, dim]."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from rec_jax.registry import Registry

HISTORY: Registry = Registry("history encoder")


@HISTORY.register("mean")
class MeanHistory(nnx.Module):
  """Mean of the embeddings of the real (unpadded) history items; zeros for an empty history."""

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    del dim, rngs  # No parameters.

  def __call__(self, items: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """items: [batch, length, dim]; mask: [batch, length] (1 real, 0 padding) -> [batch, dim]."""
    mask = mask.astype(items.dtype)[..., None]
    return jnp.sum(items * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)
