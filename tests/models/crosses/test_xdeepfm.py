"""Tests that xDeepFM's CIN computes X^k_h = sum_{i,j} W^{k,h}_{ij} (X^{k-1}_i ⊙ X^0_j) and sum-pools each layer,
checked against explicit numpy loops.

Shapes match test_registry.py's ([4, 5, 3] fields, layer_sizes (2, 3)) so JAX compiles each op once per session.
"""

from __future__ import annotations

import ml_collections
import numpy as np
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.xdeepfm import CINLayer, CompressedInteractionNet

BATCH, FIELDS, DIM = 4, 5, 3


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape)


def _cin_layer(layer: CINLayer, x0: np.ndarray, x: np.ndarray) -> np.ndarray:
  """The explicit triple sum over maps i < H_{k-1} and fields j < m, per output map h."""
  batch, m, dim = x0.shape
  prev = x.shape[1]
  w = np.asarray(layer.compress.kernel[...], np.float64).reshape(prev, m, -1)  # Kernel row i*m + j -> [i, j].
  out = np.zeros((batch, w.shape[-1], dim))
  for h in range(w.shape[-1]):
    for i in range(prev):
      for j in range(m):
        out[:, h] += w[i, j, h] * x[:, i] * x0[:, j]
  return out


def test_cin_layer_matches_triple_sum():
  layer = CINLayer(prev_maps=2, num_fields=FIELDS, num_maps=3, rngs=nnx.Rngs(0))
  x0, x = _random(1, (BATCH, FIELDS, DIM)), _random(2, (BATCH, 2, DIM))
  out = np.asarray(layer(x0.astype(np.float32), x.astype(np.float32)))
  assert out.shape == (BATCH, 3, DIM)
  np.testing.assert_allclose(out, _cin_layer(layer, x0, x), rtol=1e-5, atol=1e-5)


def test_output_is_concatenated_sum_pooled_maps():
  net = CompressedInteractionNet(FIELDS, (2, 3), rngs=nnx.Rngs(1))
  fields = _random(3, (BATCH, FIELDS, DIM))
  x1 = _cin_layer(net.layers[0], fields, fields)
  x2 = _cin_layer(net.layers[1], fields, x1)
  expected = np.concatenate([x1.sum(axis=-1), x2.sum(axis=-1)], axis=-1)
  out = np.asarray(net(fields.astype(np.float32)))
  assert out.shape == (BATCH, 5) and net.out_dim == 5
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_registry_width_is_sum_of_layer_sizes():
  fields = _random(4, (BATCH, FIELDS, DIM)).astype(np.float32)
  net = build_cross("xdeepfm", FIELDS, DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert net.out_dim == 32 and net(fields).shape == (BATCH, 32) and net.parallel_deep is True
  net = build_cross("xdeepfm", FIELDS, DIM, ml_collections.ConfigDict({"layer_sizes": (2, 3)}), rngs=nnx.Rngs(0))
  assert net.out_dim == 5 and net(fields).shape == (BATCH, 5)
