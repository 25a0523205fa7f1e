"""FinalMLP (Mao et al., 2023): two MLP streams over the flattened fields, each behind an optional feature gate,
fused by multi-head bilinear interaction into one score. It is the whole interaction part (`parallel_deep` False).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.errors import UserError
from rec_jax.models.mlp import MLP


class FeatureGate(nnx.Module):
  """Stream-specific feature selection: x ⊙ 2·sigmoid(MLP_g(context)), gates in (0, 2).

  The paper's context is a chosen feature's embedding; we have no separate selection input, so the context is the
  flattened fields x themselves. MLP_g has ReLU hidden layers `hidden` and a linear output of width in_dim.
  """

  def __init__(self, in_dim: int, hidden: Sequence[int], *, rngs: nnx.Rngs):
    self.mlp = MLP(in_dim, (*hidden, in_dim), activate_last=False, rngs=rngs)

  def gate(self, x: jax.Array) -> jax.Array:
    """Maps x [batch, in_dim] to gates in (0, 2) [batch, in_dim]."""
    return 2.0 * jax.nn.sigmoid(self.mlp(x))

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps x [batch, in_dim] to the gated x [batch, in_dim]."""
    return x * self.gate(x)


class BilinearFusion(nnx.Module):
  """Multi-head bilinear fusion: o1, o2 split into `num_heads` chunks o1_h [d1], o2_h [d2];
  y = sum_h (b_h + w1_hᵀ o1_h + w2_hᵀ o2_h + o1_hᵀ W3_h o2_h).

  Parameters: `bias` [heads], `w1` [heads, d1], `w2` [heads, d2], `w3` [heads, d1, d2].
  """

  def __init__(self, dim1: int, dim2: int, num_heads: int, *, rngs: nnx.Rngs):
    if num_heads < 1 or dim1 % num_heads or dim2 % num_heads:
      raise UserError(f"finalmlp: num_heads={num_heads} must divide both stream output sizes "
                      f"(stream1: {dim1}, stream2: {dim2})")
    d1, d2 = dim1 // num_heads, dim2 // num_heads
    vector = nnx.initializers.lecun_normal(in_axis=-1, out_axis=-2)  # Per head a [d] -> 1 map: fan-in d.
    matrix = nnx.initializers.glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
    self.bias = nnx.Param(jnp.zeros((num_heads,), jnp.float32))
    self.w1 = nnx.Param(vector(rngs.params(), (num_heads, d1), jnp.float32))
    self.w2 = nnx.Param(vector(rngs.params(), (num_heads, d2), jnp.float32))
    self.w3 = nnx.Param(matrix(rngs.params(), (num_heads, d1, d2), jnp.float32))
    self.num_heads = num_heads

  def __call__(self, o1: jax.Array, o2: jax.Array) -> jax.Array:
    """Maps o1 [batch, dim1] and o2 [batch, dim2] to the fused score [batch, 1]."""
    h1 = o1.reshape(o1.shape[0], self.num_heads, -1)
    h2 = o2.reshape(o2.shape[0], self.num_heads, -1)
    per_head = (self.bias[...] + jnp.einsum("bhi,hi->bh", h1, self.w1[...]) + jnp.einsum("bhj,hj->bh", h2, self.w2[...])
                + jnp.einsum("bhi,hij,bhj->bh", h1, self.w3[...], h2))
    return jnp.sum(per_head, axis=-1, keepdims=True)


class FinalMLP(nnx.Module):
  """Two (optionally gated) ReLU MLP streams over the flattened fields, fused bilinearly: [batch, 1]."""

  out_dim = 1
  parallel_deep = False

  def __init__(self, in_dim: int, stream1: Sequence[int], stream2: Sequence[int], *, gating: bool,
               gate_hidden: Sequence[int], num_heads: int, rngs: nnx.Rngs):
    self.stream1 = MLP(in_dim, stream1, rngs=rngs)
    self.stream2 = MLP(in_dim, stream2, rngs=rngs)
    self.fusion = BilinearFusion(self.stream1.out_dim, self.stream2.out_dim, num_heads, rngs=rngs)
    self.gate1 = FeatureGate(in_dim, gate_hidden, rngs=rngs) if gating else None
    self.gate2 = FeatureGate(in_dim, gate_hidden, rngs=rngs) if gating else None

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to the fused score [batch, 1]."""
    x = fields.reshape(fields.shape[0], -1)
    x1 = x if self.gate1 is None else self.gate1(x)
    x2 = x if self.gate2 is None else self.gate2(x)
    return self.fusion(self.stream1(x1), self.stream2(x2))


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  stream1: Tuple[int, ...] = (64, 64)   # the two MLP streams
  stream2: Tuple[int, ...] = (64, 64)
  gating: bool = True                   # a feature gate before each stream
  gate_hidden: Tuple[int, ...] = (64,)  # the gate MLPs' hidden sizes
  num_heads: int = 1                    # heads of the bilinear fusion


def build(num_fields: int, field_dim: int, opts: Options, *, rngs: nnx.Rngs) -> FinalMLP:
  """FinalMLP over num_fields*field_dim inputs."""
  return FinalMLP(num_fields * field_dim, tuple(opts.stream1), tuple(opts.stream2), gating=opts.gating,
                  gate_hidden=tuple(opts.gate_hidden), num_heads=opts.num_heads, rngs=rngs)
