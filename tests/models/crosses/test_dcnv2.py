"""Tests that DCN-v2 cross layers compute x0 ⊙ (W x + b) + x, the low-rank mixture of experts its DCN-Mix formula,
and the stacked structure MLP(cross(x)), checked in numpy.

Shapes match test_registry.py's ([4, 5, 3] fields, rank 2, 2 experts) so JAX compiles each op once per session.
"""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.dcnv2 import CrossLayerV2, CrossNetV2, LowRankMixtureCrossLayer, StackedCrossNetV2

BATCH, FIELDS, DIM = 4, 5, 3
WIDTH = FIELDS * DIM


def _np(param) -> np.ndarray:
  return np.asarray(param[...], np.float64)


def _cross(layer: CrossLayerV2, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
  return x0 * (x @ _np(layer.linear.kernel) + _np(layer.linear.bias)) + x


def _mixture(layer: LowRankMixtureCrossLayer, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
  """sum_i G_i(x) x0 ⊙ (U_i tanh(C_i tanh(V_iᵀ x)) + b_i) + x, looping over rows and experts."""
  u, v, c, b, g = _np(layer.u), _np(layer.v), _np(layer.c), _np(layer.bias), _np(layer.gate.kernel)
  out = x.copy()
  for n in range(x.shape[0]):
    logits = x[n] @ g
    gates = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    for i in range(u.shape[0]):
      expert = x0[n] * (u[i] @ np.tanh(c[i] @ np.tanh(v[i].T @ x[n])) + b[i])
      out[n] += gates[i] * expert
  return out


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_cross_layer_matches_formula():
  layer = CrossLayerV2(WIDTH, rngs=nnx.Rngs(0))
  # Non-zero bias so a dropped bias term would be caught.
  layer.linear.bias[...] = _random(3, (WIDTH,))
  x0, x = _random(1, (BATCH, WIDTH)), _random(2, (BATCH, WIDTH))
  np.testing.assert_allclose(
      np.asarray(layer(x0, x)), _cross(layer, x0.astype(np.float64), x.astype(np.float64)),
      rtol=1e-5, atol=1e-5)


def test_two_layer_net_applies_formula_twice():
  net = CrossNetV2(WIDTH, num_layers=2, rngs=nnx.Rngs(1))
  fields = _random(4, (BATCH, FIELDS, DIM))
  x0 = fields.reshape(BATCH, WIDTH).astype(np.float64)
  expected = _cross(net.layers[1], x0, _cross(net.layers[0], x0, x0))
  out = np.asarray(net(fields))
  assert out.shape == (BATCH, WIDTH)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_registry_builds_dcnv2():
  cfg = ml_collections.ConfigDict({"num_layers": 2})
  net = build_cross("dcnv2", FIELDS, DIM, cfg, rngs=nnx.Rngs(0))
  assert isinstance(net, CrossNetV2)
  assert len(net.layers) == 2
  assert net.out_dim == WIDTH
  assert net.parallel_deep is True
  assert net(_random(5, (BATCH, FIELDS, DIM))).shape == (BATCH, WIDTH)
  default = build_cross("dcnv2", FIELDS, DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert len(default.layers) == 3
  assert all(isinstance(layer, CrossLayerV2) for layer in default.layers)  # low_rank=0: full rank.


def test_low_rank_mixture_layer_matches_formula():
  layer = LowRankMixtureCrossLayer(WIDTH, rank=2, num_experts=2, rngs=nnx.Rngs(0))
  assert layer.u[...].shape == layer.v[...].shape == (2, WIDTH, 2) and layer.c[...].shape == (2, 2, 2)
  layer.bias[...] = _random(7, (2, WIDTH))  # Non-zero, so a dropped or misplaced bias is caught.
  x0, x = _random(1, (BATCH, WIDTH)), _random(2, (BATCH, WIDTH))
  np.testing.assert_allclose(np.asarray(layer(x0, x)), _mixture(layer, x0.astype(np.float64), x.astype(np.float64)),
                             rtol=1e-5, atol=1e-5)


def test_mixture_gates_sum_to_one():
  layer = LowRankMixtureCrossLayer(WIDTH, rank=2, num_experts=2, rngs=nnx.Rngs(3))
  gates = np.asarray(layer.gates(_random(4, (BATCH, WIDTH))))
  assert gates.shape == (BATCH, 2)
  assert np.all(gates > 0) and not np.allclose(gates, 0.5)  # Input-dependent, not uniform.
  np.testing.assert_allclose(gates.sum(axis=-1), np.ones(BATCH), rtol=1e-6)


def test_stacked_low_rank_is_mlp_of_mixture_cross():
  cfg = ml_collections.ConfigDict({"num_layers": 2, "low_rank": 2, "num_experts": 2, "structure": "stacked",
                                   "deep": (4,)})
  net = build_cross("dcnv2", FIELDS, DIM, cfg, rngs=nnx.Rngs(2))
  assert isinstance(net, StackedCrossNetV2)
  assert net.parallel_deep is False and net.out_dim == 4
  assert all(isinstance(layer, LowRankMixtureCrossLayer) for layer in net.cross.layers)
  for i, layer in enumerate(net.cross.layers):
    layer.bias[...] = _random(10 + i, (2, WIDTH))
  fields = _random(8, (BATCH, FIELDS, DIM))
  x0 = fields.reshape(BATCH, WIDTH).astype(np.float64)
  h = _mixture(net.cross.layers[1], x0, _mixture(net.cross.layers[0], x0, x0))
  for linear in net.deep.layers:
    h = np.maximum(h @ _np(linear.kernel) + _np(linear.bias), 0.0)
  assert np.any(h > 0)  # An all-zero output would make the comparison vacuous.
  np.testing.assert_allclose(np.asarray(net(fields)), h, rtol=1e-5, atol=1e-5)


def test_unknown_structure_names_valid_values():
  cfg = ml_collections.ConfigDict({"structure": "sideways"})
  with pytest.raises(ValueError, match="sideways.*parallel, stacked"):
    build_cross("dcnv2", FIELDS, DIM, cfg, rngs=nnx.Rngs(0))
