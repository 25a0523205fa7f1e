"""Tests for the MLP tower: output shapes, activation placement and the empty-hidden identity."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.models.mlp import MLP


def test_output_shape_and_out_dim():
  mlp = MLP(5, [8, 3], rngs=nnx.Rngs(0))
  y = mlp(jnp.ones((4, 5)))
  assert mlp.out_dim == 3
  assert y.shape == (4, 3)
  assert len(mlp.layers) == 2


def test_activate_last_controls_final_relu():
  x = jax.random.normal(jax.random.key(1), (16, 5))
  activated = MLP(5, [4], rngs=nnx.Rngs(0))(x)
  linear = MLP(5, [4], rngs=nnx.Rngs(0), activate_last=False)(x)
  np.testing.assert_allclose(activated, jnp.maximum(linear, 0), rtol=1e-6)
  assert jnp.any(linear < 0)  # Otherwise the comparison above would be vacuous.


def test_empty_hidden_is_identity():
  mlp = MLP(6, [], rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(2), (3, 6))
  assert mlp.out_dim == 6
  np.testing.assert_array_equal(mlp(x), x)
