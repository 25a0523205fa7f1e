"""DCN-v2 cross network (Wang et al., 2021) with full-rank cross matrices."""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from rec_jax.models.crosses.registry import CROSSES


class CrossLayerV2(nnx.Module):
  """One cross layer: x_{l+1} = x0 ⊙ (W x_l + b) + x_l with a full-rank W [dim, dim]."""

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    self.linear = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps x0 [batch, dim] and x_l [batch, dim] to x_{l+1} [batch, dim]."""
    return x0 * self.linear(x) + x


class CrossNetV2(nnx.Module):
  """Stack of `num_layers` CrossLayerV2 over the flattened field embeddings."""

  def __init__(self, in_dim: int, num_layers: int, *, rngs: nnx.Rngs):
    self.layers = nnx.List([CrossLayerV2(in_dim, rngs=rngs) for _ in range(num_layers)])
    self.out_dim = in_dim

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to crossed features [batch, fields*dim]."""
    x0 = fields.reshape(fields.shape[0], -1)
    x = x0
    for layer in self.layers:
      x = layer(x0, x)
    return x


@CROSSES.register("dcnv2")
def build_dcnv2(num_fields: int, field_dim: int, cfg: Any, *, rngs: nnx.Rngs) -> CrossNetV2:
  """Builds a CrossNetV2 over num_fields*field_dim inputs; reads `cfg.num_layers` (default 3)."""
  return CrossNetV2(num_fields * field_dim, cfg.get("num_layers", 3), rngs=rngs)
