"""Tests dropout: off in evaluation mode (how models are built), in training a mask scaled by 1 / (1 - rate) drawn
from the step's key, each Dropout of a model with its own key, and usable inside jax.grad under jit (the train
step's setting)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rec_jax.models.dropout import Dropout, dropout, reseed
from rec_jax.models.mlp import MLP
from rec_jax.text.frozen import count_parameters, fingerprint


def _mlp(rate):
  return MLP(6, (64, 64), rngs=nnx.Rngs(0), dropout_rate=rate)


def test_rate_zero_adds_nothing_and_bad_rates_are_named():
  assert dropout(0.0) is None
  assert jax.tree.structure(nnx.state(_mlp(0.0))) == jax.tree.structure(nnx.state(MLP(6, (64, 64), rngs=nnx.Rngs(0))))
  with pytest.raises(ValueError, match="dropout rate"):
    dropout(1.0)


def test_training_masks_come_from_the_key_and_evaluation_has_none():
  layer = Dropout(0.5)
  x = jnp.ones((1000,))
  reseed(layer, jax.random.key(1))
  y = np.asarray(layer(x))
  assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < np.mean(y == 0) < 0.6
  np.testing.assert_array_equal(layer(x), y)   # the same key, the same mask
  reseed(layer, jax.random.key(2))
  assert not np.array_equal(layer(x), y)
  layer.eval()
  np.testing.assert_array_equal(layer(x), x)


def test_each_layer_has_its_own_key_and_keys_are_no_weights():
  model = _mlp(0.5)
  reseed(model, jax.random.key(0))
  first, second = (np.asarray(d.key[...]) for d in model.dropouts)
  assert not np.array_equal(first, second)
  rest = nnx.split(model, nnx.Param, ...)[2]
  assert count_parameters(rest) == 0
  reseed(model, jax.random.key(5))
  assert fingerprint(nnx.split(model, nnx.Param, ...)[2]) == fingerprint(rest)


def test_dropout_inside_grad_under_jit():
  model = _mlp(0.5)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  @jax.jit
  def grads(params, rest, key):
    m = nnx.merge(graphdef, params, rest)
    reseed(m, key)
    stepped = nnx.split(m, nnx.Param, ...)[2]
    return jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p, stepped)(jnp.ones((4, 6)))))(params)

  a, b = grads(params, rest, jax.random.key(0)), grads(params, rest, jax.random.key(1))
  assert not np.allclose(a["layers"][0]["kernel"][...], b["layers"][0]["kernel"][...])
  np.testing.assert_array_equal(grads(params, rest, jax.random.key(0))["layers"][0]["kernel"][...],
                                a["layers"][0]["kernel"][...])
