"""Factorization-machine second-order interaction (Rendle, 2010) as a parameter-free cross."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.models.crosses.registry import CROSSES


class FactorizationMachine(nnx.Module):
  """Sum over field pairs i<j of <v_i, v_j>, computed in O(F·D) with the sum-square identity."""

  out_dim = 1

  def __call__(self, fields: jax.Array) -> jax.Array:
    """Maps field embeddings [batch, fields, dim] to the pairwise interaction [batch, 1]."""
    # sum_{i<j} <v_i, v_j> = 0.5 * sum_d ((sum_f v_f)^2 - sum_f v_f^2): avoids the F^2 pair loop.
    square_of_sum = jnp.square(jnp.sum(fields, axis=1))
    sum_of_square = jnp.sum(jnp.square(fields), axis=1)
    return 0.5 * jnp.sum(square_of_sum - sum_of_square, axis=-1, keepdims=True)


@CROSSES.register("fm")
def build_fm(num_fields: int, field_dim: int, cfg: Any, *, rngs: nnx.Rngs) -> FactorizationMachine:
  """Builds an FM; it has no options or parameters, so all arguments are ignored."""
  del num_fields, field_dim, cfg, rngs
  return FactorizationMachine()
