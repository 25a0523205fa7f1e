"""Tests FinalMLP's parts: the multi-head bilinear fusion against its per-head formula, the feature gates' range,
the two-stream composition, and the num_heads divisibility check.

Shapes match test_registry.py's ([4, 5, 3] fields; streams (4,) and (2,), 2 heads; default 64-wide gate MLPs) so
JAX compiles each op once per session.
"""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.finalmlp import BilinearFusion, FeatureGate, FinalMLP

BATCH, FIELDS, DIM = 4, 5, 3
WIDTH = FIELDS * DIM


def _random(seed: int, shape, scale: float = 1.0) -> np.ndarray:
  return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def _np(param) -> np.ndarray:
  return np.asarray(param[...], np.float64)


def _fusion(fusion: BilinearFusion, o1: np.ndarray, o2: np.ndarray) -> np.ndarray:
  """sum_h b_h + w1_hᵀ o1_h + w2_hᵀ o2_h + o1_hᵀ W3_h o2_h, one row and one head at a time."""
  b, w1, w2, w3 = _np(fusion.bias), _np(fusion.w1), _np(fusion.w2), _np(fusion.w3)
  heads, d1, d2 = w3.shape
  out = np.zeros((o1.shape[0], 1))
  for n in range(o1.shape[0]):
    for h in range(heads):
      a, c = o1[n, h * d1:(h + 1) * d1], o2[n, h * d2:(h + 1) * d2]
      out[n, 0] += b[h] + w1[h] @ a + w2[h] @ c + a @ w3[h] @ c
  return out


def test_bilinear_fusion_matches_per_head_formula():
  fusion = BilinearFusion(4, 2, num_heads=2, rngs=nnx.Rngs(0))
  assert fusion.w3[...].shape == (2, 2, 1)
  fusion.bias[...] = _random(1, (2,))  # Non-zero, so a dropped bias is caught.
  o1, o2 = _random(2, (BATCH, 4)), _random(3, (BATCH, 2))
  out = np.asarray(fusion(o1, o2))
  assert out.shape == (BATCH, 1)
  np.testing.assert_allclose(out, _fusion(fusion, o1.astype(np.float64), o2.astype(np.float64)),
                             rtol=1e-5, atol=1e-5)


def test_gates_lie_in_zero_two_and_scale_inputs():
  gate = FeatureGate(WIDTH, (64,), rngs=nnx.Rngs(1))
  x = _random(4, (BATCH, WIDTH), scale=3.0)
  g = np.asarray(gate.gate(x))
  assert np.all(g > 0) and np.all(g < 2)
  assert np.any(g < 1) and np.any(g > 1)  # Gates both damp and amplify: 2·sigmoid, not sigmoid.
  np.testing.assert_allclose(np.asarray(gate(x)), x * g, rtol=1e-6)


def test_final_mlp_fuses_gated_streams():
  net = FinalMLP(WIDTH, (4,), (2,), gating=True, gate_hidden=(64,), num_heads=2, rngs=nnx.Rngs(2))
  fields = _random(5, (BATCH, FIELDS, DIM))
  x = fields.reshape(BATCH, WIDTH)
  o1 = np.asarray(net.stream1(net.gate1(x)), np.float64)
  o2 = np.asarray(net.stream2(net.gate2(x)), np.float64)
  np.testing.assert_allclose(np.asarray(net(fields)), _fusion(net.fusion, o1, o2), rtol=1e-5, atol=1e-5)
  plain = FinalMLP(WIDTH, (4,), (2,), gating=False, gate_hidden=(64,), num_heads=2, rngs=nnx.Rngs(2))
  assert plain.gate1 is None and plain.gate2 is None
  expected = _fusion(plain.fusion, np.asarray(plain.stream1(x), np.float64), np.asarray(plain.stream2(x), np.float64))
  np.testing.assert_allclose(np.asarray(plain(fields)), expected, rtol=1e-5, atol=1e-5)


def test_num_heads_must_divide_both_streams():
  cfg = ml_collections.ConfigDict({"stream1": (4,), "stream2": (2,), "gating": False, "num_heads": 4})
  with pytest.raises(ValueError, match=r"num_heads=4.*stream1: 4, stream2: 2"):
    build_cross("finalmlp", FIELDS, DIM, cfg, rngs=nnx.Rngs(0))


def test_registry_defaults():
  net = build_cross("finalmlp", FIELDS, DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert net.stream1.out_dim == 64 and net.stream2.out_dim == 64 and net.fusion.num_heads == 1
  assert net.gate1 is not None and net.out_dim == 1 and net.parallel_deep is False
