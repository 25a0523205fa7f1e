"""AutoInt (Song et al., 2019): fields interact through stacked multi-head self-attention over the fields.

With the hybrid's deep MLP beside it (`parallel_deep`) this is AutoInt+; with `model.mlp=()` it is plain AutoInt.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options


class InteractingLayer(nnx.Module):
  """One interacting layer over fields e [batch, fields, in_dim]: per head h, a_ij = softmax_j <q_i, k_j> and
  out_i = ReLU(concat_h sum_j a_ij v_j + W_res e_i) [batch, fields, heads*head_dim].

  `query`, `key`, `value`, `residual` are bias-free nnx.Linear(in_dim, heads*head_dim); head h owns the columns
  h*head_dim:(h+1)*head_dim. Scores are not scaled by 1/sqrt(head_dim), as in the paper.
  """

  def __init__(self, in_dim: int, num_heads: int, head_dim: int, *, residual: bool, rngs: nnx.Rngs):
    width = num_heads * head_dim
    self.query = nnx.Linear(in_dim, width, use_bias=False, rngs=rngs)
    self.key = nnx.Linear(in_dim, width, use_bias=False, rngs=rngs)
    self.value = nnx.Linear(in_dim, width, use_bias=False, rngs=rngs)
    self.residual = nnx.Linear(in_dim, width, use_bias=False, rngs=rngs) if residual else None
    self.num_heads, self.head_dim = num_heads, head_dim
    self.out_dim = width

  def _heads(self, projection: nnx.Linear, e: jax.Array) -> jax.Array:
    """Projects e [batch, fields, in_dim] to [batch, fields, heads, head_dim]."""
    return projection(e).reshape(*e.shape[:2], self.num_heads, self.head_dim)

  def attention(self, e: jax.Array) -> jax.Array:
    """Maps e [batch, fields, in_dim] to the weights a [batch, heads, fields i, fields j], summing to 1 over j."""
    scores = jnp.einsum("bihd,bjhd->bhij", self._heads(self.query, e), self._heads(self.key, e))
    return jax.nn.softmax(scores, axis=-1)

  def __call__(self, e: jax.Array) -> jax.Array:
    """Maps e [batch, fields, in_dim] to [batch, fields, heads*head_dim]."""
    attended = jnp.einsum("bhij,bjhd->bihd", self.attention(e), self._heads(self.value, e))
    out = attended.reshape(*e.shape[:2], self.out_dim)
    if self.residual is not None:
      out = out + self.residual(e)
    return nnx.relu(out)


class AutoInt(nnx.Module):
  """`num_layers` InteractingLayers; outputs the flattened final field representations."""

  parallel_deep = True

  def __init__(self, num_fields: int, field_dim: int, num_layers: int, num_heads: int, head_dim: int, *,
               residual: bool, rngs: nnx.Rngs):
    layers, in_dim = [], field_dim
    for _ in range(num_layers):
      layers.append(InteractingLayer(in_dim, num_heads, head_dim, residual=residual, rngs=rngs))
      in_dim = layers[-1].out_dim
    self.layers = nnx.List(layers)
    self.out_dim = num_fields * in_dim

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to [batch, fields*heads*head_dim]."""
    x = fields
    for layer in self.layers:
      x = layer(x)
    return x.reshape(x.shape[0], -1)


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  num_layers: int = 2     # interacting layers
  num_heads: int = 2
  head_dim: int = 16
  residual: bool = True   # the residual projection W_res e_i


def build(num_fields: int, field_dim: int, opts: Options, *, rngs: nnx.Rngs) -> AutoInt:
  return AutoInt(num_fields, field_dim, opts.num_layers, opts.num_heads, opts.head_dim, residual=opts.residual,
                 rngs=rngs)
