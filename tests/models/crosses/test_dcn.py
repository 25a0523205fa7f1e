"""Tests that DCN (v1) cross layers compute x0 * (x·w) + b + x, checked in numpy.

Shapes match test_registry.py's ([4, 5, 3] fields) so JAX compiles each op once per session.
"""

from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.dcn import CrossLayer, CrossNet

BATCH, FIELDS, DIM = 4, 5, 3
WIDTH = FIELDS * DIM


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _cross(layer: CrossLayer, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
  """x0 * (x·w) + b + x row by row, with w, b read from the layer."""
  w = np.asarray(layer.projection.kernel[...], np.float64)[:, 0]
  b = np.asarray(layer.bias[...], np.float64)
  out = np.empty_like(x)
  for n in range(x.shape[0]):
    out[n] = x0[n] * float(np.dot(x[n], w)) + b + x[n]
  return out


def _with_bias(layer: CrossLayer, seed: int) -> CrossLayer:
  # Non-zero bias so a dropped bias term would be caught.
  layer.bias[...] = _random(seed, (WIDTH,))
  return layer


def test_cross_layer_matches_formula():
  layer = _with_bias(CrossLayer(WIDTH, rngs=nnx.Rngs(0)), 3)
  assert layer.projection.kernel[...].shape == (WIDTH, 1)
  x0, x = _random(1, (BATCH, WIDTH)), _random(2, (BATCH, WIDTH))
  np.testing.assert_allclose(np.asarray(layer(x0, x)), _cross(layer, x0.astype(np.float64), x.astype(np.float64)),
                             rtol=1e-5, atol=1e-5)


def test_two_layer_net_applies_formula_twice():
  net = CrossNet(WIDTH, num_layers=2, rngs=nnx.Rngs(1))
  for i, layer in enumerate(net.layers):
    _with_bias(layer, 10 + i)
  fields = _random(4, (BATCH, FIELDS, DIM))
  x0 = fields.reshape(BATCH, WIDTH).astype(np.float64)
  expected = _cross(net.layers[1], x0, _cross(net.layers[0], x0, x0))
  out = np.asarray(net(fields))
  assert out.shape == (BATCH, WIDTH)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_registry_builds_dcn():
  net = build_cross("dcn", FIELDS, DIM, ml_collections.ConfigDict({"num_layers": 1}), rngs=nnx.Rngs(0))
  assert isinstance(net, CrossNet)
  assert len(net.layers) == 1 and net.out_dim == WIDTH and net.parallel_deep is True
  assert len(build_cross("dcn", FIELDS, DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0)).layers) == 3
