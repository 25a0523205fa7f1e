"""DCN-v2 cross network (Wang et al., 2021): full-rank cross matrices or a low-rank mixture of experts
(DCN-Mix), in the "parallel" (deep MLP beside it, in the hybrid) or "stacked" (deep MLP on top) structure."""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.errors import UserError
from rec_jax.models.crosses.dcn import apply_cross_layers
from rec_jax.models.mlp import MLP

STRUCTURES = ("parallel", "stacked")


class CrossLayerV2(nnx.Module):
  """One cross layer: x_{l+1} = x0 ⊙ (W x_l + b) + x_l with a full-rank W [dim, dim]."""

  def __init__(self, dim: int, *, rngs: nnx.Rngs):
    self.linear = nnx.Linear(dim, dim, rngs=rngs)

  def __call__(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps x0 [batch, dim] and x_l [batch, dim] to x_{l+1} [batch, dim]."""
    return x0 * self.linear(x) + x


class LowRankMixtureCrossLayer(nnx.Module):
  """One DCN-Mix layer: x_{l+1} = sum_i G_i(x_l) E_i(x_l) + x_l over `num_experts` experts, where
  E_i(x_l) = x0 ⊙ (U_i tanh(C_i tanh(V_iᵀ x_l)) + b_i) and G(x_l) = softmax over experts of `gate(x_l)`.

  Parameters: `u`, `v` [experts, dim, rank] (U_i, V_i), `c` [experts, rank, rank] (C_i), `bias` [experts, dim]
  (b_i) and `gate`, a bias-free nnx.Linear(dim, experts). g = tanh, as in the paper's reference code.
  """

  def __init__(self, dim: int, rank: int, num_experts: int, *, rngs: nnx.Rngs):
    # Glorot per expert (the reference code's xavier_normal); the expert axis is a batch axis, not a fan.
    transposed = nnx.initializers.glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))  # V_i, used as V_iᵀ.
    matrix = nnx.initializers.glorot_normal(in_axis=-1, out_axis=-2, batch_axis=(0,))  # U_i, C_i: [out, in].
    self.u = nnx.Param(matrix(rngs.params(), (num_experts, dim, rank), jnp.float32))
    self.v = nnx.Param(transposed(rngs.params(), (num_experts, dim, rank), jnp.float32))
    self.c = nnx.Param(matrix(rngs.params(), (num_experts, rank, rank), jnp.float32))
    self.bias = nnx.Param(jnp.zeros((num_experts, dim), jnp.float32))
    self.gate = nnx.Linear(dim, num_experts, use_bias=False, rngs=rngs)

  def gates(self, x: jax.Array) -> jax.Array:
    """Maps x_l [batch, dim] to the expert weights G(x_l) [batch, experts], summing to 1 per row."""
    return jax.nn.softmax(self.gate(x), axis=-1)

  def experts(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps x0, x_l [batch, dim] to every expert's output E_i(x_l) [batch, experts, dim]."""
    low = jnp.tanh(jnp.einsum("bd,edr->ber", x, self.v[...]))
    low = jnp.tanh(jnp.einsum("bes,ers->ber", low, self.c[...]))
    return x0[:, None, :] * (jnp.einsum("ber,edr->bed", low, self.u[...]) + self.bias[...])

  def __call__(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps x0 [batch, dim] and x_l [batch, dim] to x_{l+1} [batch, dim]."""
    return jnp.einsum("be,bed->bd", self.gates(x), self.experts(x0, x)) + x


class CrossNetV2(nnx.Module):
  """Stack of `num_layers` cross layers over the flattened field embeddings: full-rank CrossLayerV2 when
  `low_rank` is 0, else LowRankMixtureCrossLayer of that rank with `num_experts` experts. Used alone it is the
  "parallel" structure: the hybrid runs its deep MLP beside it."""

  parallel_deep = True

  def __init__(self, in_dim: int, num_layers: int, *, rngs: nnx.Rngs, low_rank: int = 0, num_experts: int = 4):
    if low_rank < 0 or (low_rank and num_experts < 1):
      raise UserError(f"dcnv2: low_rank={low_rank} must be >= 0 and, when > 0, num_experts={num_experts} >= 1")
    if low_rank:
      layers = [LowRankMixtureCrossLayer(in_dim, low_rank, num_experts, rngs=rngs) for _ in range(num_layers)]
    else:
      layers = [CrossLayerV2(in_dim, rngs=rngs) for _ in range(num_layers)]
    self.layers = nnx.List(layers)
    self.out_dim = in_dim

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to crossed features [batch, fields*dim]."""
    return apply_cross_layers(self.layers, fields)


class StackedCrossNetV2(nnx.Module):
  """DCN-v2's "stacked" structure: a deep MLP (ReLU after every layer) on the cross network's output. It contains
  its deep net, so the hybrid runs none beside it."""

  parallel_deep = False

  def __init__(self, cross: CrossNetV2, deep: Sequence[int], *, rngs: nnx.Rngs):
    self.cross = cross
    self.deep = MLP(cross.out_dim, deep, rngs=rngs)
    self.out_dim = self.deep.out_dim

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to MLP(cross(fields)) [batch, out_dim]."""
    return self.deep(self.cross(fields))


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  num_layers: int = 3                 # cross layers
  low_rank: int = 0                   # 0: full-rank W; r > 0: the low-rank mixture of experts (DCN-Mix) of rank r
  num_experts: int = 4                # experts of each low-rank layer
  structure: str = "parallel"         # parallel (the hybrid's MLP beside it) | stacked (`deep` on top of it)
  deep: Tuple[int, ...] = (128,)      # the stacked structure's MLP


def build(num_fields: int, field_dim: int, opts: Options, *, rngs: nnx.Rngs) -> CrossNetV2 | StackedCrossNetV2:
  """DCN-v2 over num_fields*field_dim inputs, in the structure `opts.structure`."""
  if opts.structure not in STRUCTURES:
    raise UserError(f"dcnv2: cross_options.structure={opts.structure!r}; valid: {', '.join(STRUCTURES)}")
  cross = CrossNetV2(num_fields * field_dim, opts.num_layers, rngs=rngs, low_rank=opts.low_rank,
                     num_experts=opts.num_experts)
  if opts.structure == "parallel":
    return cross
  return StackedCrossNetV2(cross, tuple(opts.deep), rngs=rngs)
