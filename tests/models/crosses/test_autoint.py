"""Tests that AutoInt's interacting layer is multi-head self-attention over fields plus a residual and a ReLU,
checked against a numpy loop, and that it is equivariant to permuting the fields.

Shapes match test_registry.py's ([4, 5, 3] fields, default 2 heads of 16) so JAX compiles each op once per session.
"""

from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.autoint import AutoInt, InteractingLayer

BATCH, FIELDS, DIM = 4, 5, 3
HEADS, HEAD_DIM = 2, 16


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _kernel(linear: nnx.Linear) -> np.ndarray:
  return np.asarray(linear.kernel[...], np.float64)


def _interacting(layer: InteractingLayer, e: np.ndarray) -> np.ndarray:
  """ReLU(concat_h sum_j softmax_j(<q_i, k_j>) v_j + W_res e_i), looping over rows, heads and fields."""
  batch, fields, _ = e.shape
  heads, d = layer.num_heads, layer.head_dim
  out = np.zeros((batch, fields, heads * d))
  for n in range(batch):
    for h in range(heads):
      cols = slice(h * d, (h + 1) * d)
      q, k, v = (e[n] @ _kernel(lin)[:, cols] for lin in (layer.query, layer.key, layer.value))
      for i in range(fields):
        scores = np.array([np.dot(q[i], k[j]) for j in range(fields)])
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        out[n, i, cols] = sum(weights[j] * v[j] for j in range(fields))
  if layer.residual is not None:
    out += e @ _kernel(layer.residual)
  return np.maximum(out, 0.0)


def _net(seed: int) -> AutoInt:
  return AutoInt(FIELDS, DIM, num_layers=2, num_heads=HEADS, head_dim=HEAD_DIM, residual=True, rngs=nnx.Rngs(seed))


def test_attention_weights_sum_to_one_over_fields():
  layer = _net(0).layers[0]
  weights = np.asarray(layer.attention(_random(1, (BATCH, FIELDS, DIM))))
  assert weights.shape == (BATCH, HEADS, FIELDS, FIELDS)
  assert np.all(weights > 0) and not np.allclose(weights, 1 / FIELDS)  # Input-dependent, not uniform.
  np.testing.assert_allclose(weights.sum(axis=-1), np.ones((BATCH, HEADS, FIELDS)), rtol=1e-6)


def test_interacting_layer_matches_loop():
  for residual in (True, False):
    layer = InteractingLayer(DIM, HEADS, HEAD_DIM, residual=residual, rngs=nnx.Rngs(1))
    e = _random(2, (BATCH, FIELDS, DIM))
    expected = _interacting(layer, e.astype(np.float64))
    assert np.any(expected > 0) and np.any(expected == 0)  # Both sides of the ReLU are exercised.
    np.testing.assert_allclose(np.asarray(layer(e)), expected, rtol=1e-5, atol=1e-5)


def test_two_layers_flatten_final_fields():
  net = _net(2)
  fields = _random(3, (BATCH, FIELDS, DIM))
  expected = _interacting(net.layers[1], _interacting(net.layers[0], fields.astype(np.float64)))
  out = np.asarray(net(fields))
  assert out.shape == (BATCH, FIELDS * HEADS * HEAD_DIM) and net.out_dim == FIELDS * HEADS * HEAD_DIM
  np.testing.assert_allclose(out, expected.reshape(BATCH, -1), rtol=1e-5, atol=1e-5)


def test_permuting_fields_permutes_outputs():
  net = _net(3)
  fields = _random(4, (BATCH, FIELDS, DIM))
  perm = np.array([3, 0, 4, 1, 2])
  out = np.asarray(net(fields)).reshape(BATCH, FIELDS, -1)
  permuted = np.asarray(net(fields[:, perm])).reshape(BATCH, FIELDS, -1)
  assert not np.allclose(out[:, perm], out)  # The permutation really moves different outputs.
  np.testing.assert_allclose(permuted, out[:, perm], rtol=1e-5, atol=1e-5)


def test_registry_defaults_and_options():
  net = build_cross("autoint", FIELDS, DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert len(net.layers) == 2 and net.layers[0].num_heads == HEADS and net.layers[0].head_dim == HEAD_DIM
  assert net.layers[0].residual is not None and net.parallel_deep is True
  cfg = ml_collections.ConfigDict({"num_layers": 1, "num_heads": 1, "head_dim": 2, "residual": False})
  net = build_cross("autoint", FIELDS, DIM, cfg, rngs=nnx.Rngs(0))
  assert len(net.layers) == 1 and net.layers[0].residual is None and net.out_dim == FIELDS * 2
