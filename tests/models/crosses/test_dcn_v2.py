"""Tests that DCN-v2 cross layers compute x0 ⊙ (W x + b) + x, checked in numpy."""

from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from rec_jax.models.crosses import CROSSES
from rec_jax.models.crosses.dcn_v2 import CrossLayerV2, CrossNetV2


def _cross(layer: CrossLayerV2, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
  kernel = np.asarray(layer.linear.kernel[...], np.float64)
  bias = np.asarray(layer.linear.bias[...], np.float64)
  return x0 * (x @ kernel + bias) + x


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_cross_layer_matches_formula():
  layer = CrossLayerV2(6, rngs=nnx.Rngs(0))
  # Non-zero bias so a dropped bias term would be caught.
  layer.linear.bias[...] = _random(3, (6,))
  x0, x = _random(1, (4, 6)), _random(2, (4, 6))
  np.testing.assert_allclose(
      np.asarray(layer(x0, x)), _cross(layer, x0.astype(np.float64), x.astype(np.float64)),
      rtol=1e-5, atol=1e-5)


def test_two_layer_net_applies_formula_twice():
  net = CrossNetV2(2 * 3, num_layers=2, rngs=nnx.Rngs(1))
  fields = _random(4, (5, 2, 3))
  x0 = fields.reshape(5, 6).astype(np.float64)
  expected = _cross(net.layers[1], x0, _cross(net.layers[0], x0, x0))
  out = np.asarray(net(fields))
  assert out.shape == (5, 6)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_registry_builds_dcnv2():
  cfg = ml_collections.ConfigDict({"num_layers": 2})
  net = CROSSES.get("dcnv2")(3, 4, cfg, rngs=nnx.Rngs(0))
  assert isinstance(net, CrossNetV2)
  assert len(net.layers) == 2
  assert net.out_dim == 12
  assert net(_random(5, (2, 3, 4))).shape == (2, 12)
  default = CROSSES.get("dcnv2")(3, 4, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert len(default.layers) == 3
