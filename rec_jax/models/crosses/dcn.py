"""DCN cross network v1 (Wang et al., 2017, "Deep & Cross Network"): rank-one crosses with a vector weight."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options


class CrossLayer(nnx.Module):
  """One cross layer: x_{l+1} = x0 * (x_l · w) + b + x_l, with w, b vectors [dim] (x_l · w is a scalar per row).

  w is `projection.kernel` [dim, 1] (an nnx.Linear without bias, for its initialiser); b is `bias` [dim].
  """

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    self.projection = nnx.Linear(dim, 1, use_bias=False, rngs=rngs)
    self.bias = nnx.Param(jnp.zeros((dim,), jnp.float32))

  def __call__(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps x0 [batch, dim] and x_l [batch, dim] to x_{l+1} [batch, dim]."""
    return x0 * self.projection(x) + self.bias[...] + x


class CrossNet(nnx.Module):
  """Stack of `num_layers` CrossLayer over the flattened field embeddings; the hybrid runs a deep MLP beside it."""

  parallel_deep = True

  def __init__(self, in_dim: int, num_layers: int, *, rngs: nnx.Rngs):
    self.layers = nnx.List([CrossLayer(in_dim, rngs=rngs) for _ in range(num_layers)])
    self.out_dim = in_dim

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to crossed features [batch, fields*dim]."""
    return apply_cross_layers(self.layers, fields)


def apply_cross_layers(layers, fields: jax.Array) -> jax.Array:
  """x_{l+1} = layer_l(x0, x_l) from x0 = the flattened fields [batch, fields*dim] (DCN v1 and v2 alike)."""
  x0 = fields.reshape(fields.shape[0], -1)
  x = x0
  for layer in layers:
    x = layer(x0, x)
  return x


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  num_layers: int = 3   # cross layers


def build(num_fields: int, field_dim: int, opts: Options, *, rngs: nnx.Rngs) -> CrossNet:
  """A CrossNet over num_fields*field_dim inputs."""
  return CrossNet(num_fields * field_dim, opts.num_layers, rngs=rngs)
