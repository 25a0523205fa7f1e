"""Behaviour-history encoders, chosen by `model.history`: [batch, length, dim] item vectors -> [batch, dim].

Every entry is a class `Encoder(dim, cfg=None, *, rngs)` where `cfg` is the config section `model.history_options`
(possibly empty), read with `cfg.get(key, default)`. Calling it as `encoder(items, mask, target=None)` maps
items [batch, length, dim], mask [batch, length] (True = real item) and the candidate item's embedding target
[batch, dim] to [batch, dim]. Histories are left-aligned: real items first, oldest first, then padding; an empty
history gives a finite vector. `encoder.objective` names the self-supervised loss the encoder was designed for
(None, "causal" next-item or "masked" item prediction); sequence encoders also expose `states(items, mask)`
[batch, length, dim]. The din, sasrec and bert4rec entries register when the package `rec_jax.models.cf` is imported.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.registry import Registry

HISTORY: Registry = Registry("history encoder")

# Masked attention scores: finite, so a row with no allowed position gives uniform weights (zeroed after) not NaN.
_MASKED_SCORE = -1e9


def masked_softmax(scores: jax.Array, allowed: jax.Array, axis: int = -1) -> jax.Array:
  """Softmax of scores over `axis` restricted to `allowed` (bool, broadcastable); all-zero where none is allowed."""
  weights = jax.nn.softmax(jnp.where(allowed, scores, _MASKED_SCORE), axis=axis)
  return weights * allowed.astype(weights.dtype)


def take_position(states: jax.Array, index: jax.Array) -> jax.Array:
  """Row b of states [batch, length, dim] at position index[b] -> [batch, dim]."""
  return jnp.take_along_axis(states, index[:, None, None], axis=1)[:, 0]


def options(cfg: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
  """The encoder options, `{}` when the config has none."""
  return {} if cfg is None else cfg


@HISTORY.register("mean")
class MeanHistory(nnx.Module):
  """Mean of the embeddings of the real (unpadded) history items; zeros for an empty history."""

  objective = None

  def __init__(self, dim: int, cfg: Optional[Mapping[str, Any]] = None, *, rngs: nnx.Rngs):
    del dim, cfg, rngs  # No parameters, no options.

  def __call__(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array] = None) -> jax.Array:
    """items: [batch, length, dim]; mask: [batch, length] (True/1 real); target is unused -> [batch, dim]."""
    del target
    mask = mask.astype(items.dtype)[..., None]
    return jnp.sum(items * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1.0)
