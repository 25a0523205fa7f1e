"""xDeepFM's Compressed Interaction Network (Lian et al., 2018): explicit vector-wise crosses of bounded degree.

xDeepFM = linear + CIN + DNN; the hybrid supplies the linear term and (`parallel_deep`) the DNN.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options


class CINLayer(nnx.Module):
  """X^k_{h,:} = sum_{i<H_{k-1}} sum_{j<m} W^{k,h}_{i,j} (X^{k-1}_{i,:} ⊙ X^0_{j,:}): the outer product of the
  previous maps with the fields, compressed by a 1x1 convolution.

  `compress` is a bias-free nnx.Linear(H_{k-1}*m, H_k) whose kernel row i*m + j holds W^{k,·}_{i,j}. No bias and
  no activation, as in the paper's formula.
  """

  def __init__(self, prev_maps: int, num_fields: int, num_maps: int, *, rngs: nnx.Rngs):
    self.compress = nnx.Linear(prev_maps * num_fields, num_maps, use_bias=False, rngs=rngs)

  def __call__(self, x0: jax.Array, x: jax.Array) -> jax.Array:
    """Maps X^0 [batch, m, D] and X^{k-1} [batch, H_{k-1}, D] to X^k [batch, H_k, D]."""
    outer = jnp.einsum("bid,bjd->bdij", x, x0)
    return jnp.swapaxes(self.compress(outer.reshape(*outer.shape[:2], -1)), 1, 2)


class CompressedInteractionNet(nnx.Module):
  """CIN layers of `layer_sizes` feature maps; output = each layer's maps sum-pooled over the embedding dimension,
  concatenated: [batch, sum(layer_sizes)]."""

  parallel_deep = True

  def __init__(self, num_fields: int, layer_sizes: Sequence[int], *, rngs: nnx.Rngs):
    prev = [num_fields, *layer_sizes[:-1]]
    self.layers = nnx.List([CINLayer(h_in, num_fields, h_out, rngs=rngs) for h_in, h_out in zip(prev, layer_sizes)])
    self.out_dim = sum(layer_sizes)

  def feature_maps(self, fields: jax.Array) -> list[jax.Array]:
    """Maps fields X^0 [batch, m, D] to the maps X^1..X^K, each [batch, H_k, D]."""
    maps, x = [], fields
    for layer in self.layers:
      x = layer(fields, x)
      maps.append(x)
    return maps

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, m, D] to sum-pooled feature maps [batch, sum(layer_sizes)]."""
    pooled = [jnp.sum(x, axis=-1) for x in self.feature_maps(fields)]
    return jnp.concatenate(pooled, axis=-1) if pooled else jnp.zeros((fields.shape[0], 0), jnp.float32)


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  layer_sizes: Tuple[int, ...] = (16, 16)   # feature maps per CIN layer


def build(num_fields: int, field_dim: int, opts: Options, *, rngs: nnx.Rngs) -> CompressedInteractionNet:
  """xDeepFM's CIN."""
  del field_dim  # The 1x1 convolutions act per embedding coordinate: no parameter depends on it.
  return CompressedInteractionNet(num_fields, tuple(opts.layer_sizes), rngs=rngs)
