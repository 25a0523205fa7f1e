"""Factorization-machine second-order interaction (Rendle, 2010) as a parameter-free cross; with a deep MLP
beside it over the same embeddings it is DeepFM (Guo et al., 2017; crosses/deepfm.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.options import NoOptions as Options


class FactorizationMachine(nnx.Module):
  """Sum over field pairs i<j of <v_i, v_j>, computed in O(F·D) with the sum-square identity.

  `parallel_deep` says whether the hybrid runs its deep MLP beside it: False for the plain FM, True for DeepFM.
  """

  out_dim = 1

  def __init__(self, parallel_deep: bool = False):
    self.parallel_deep = parallel_deep

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to the pairwise interaction [batch, 1]."""
    # sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_f v_f)^2 - sum_f v_f^2): avoids the F^2 pair loop.
    square_of_sum = jnp.square(jnp.sum(fields, axis=1))
    sum_of_square = jnp.sum(jnp.square(fields), axis=1)
    return 0.5 * jnp.sum(square_of_sum - sum_of_square, axis=-1, keepdims=True)


def build(num_fields: int, field_dim: int, options: Options, *, rngs: nnx.Rngs) -> FactorizationMachine:
  """Builds an FM alone (no deep MLP beside it); it has no options or parameters, so all arguments are ignored."""
  del num_fields, field_dim, options, rngs
  return FactorizationMachine(parallel_deep=False)
