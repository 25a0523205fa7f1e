"""Tests that the FM cross equals the explicit pairwise sum over field pairs."""

from __future__ import annotations

import itertools

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses.fm import FactorizationMachine


def _brute_force(v: np.ndarray) -> np.ndarray:
  """sum_{i<j} <v_i, v_j> for v [batch, fields, dim] -> [batch, 1]."""
  out = np.zeros((v.shape[0], 1), np.float64)
  for i, j in itertools.combinations(range(v.shape[1]), 2):
    out[:, 0] += np.sum(v[:, i] * v[:, j], axis=-1)
  return out


@pytest.mark.parametrize("shape", [(3, 2, 4), (5, 7, 3), (2, 1, 5), (4, 10, 8)])
def test_fm_matches_pairwise_sum(shape):
  v = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
  out = np.asarray(FactorizationMachine()(v))
  assert out.shape == (shape[0], 1)
  np.testing.assert_allclose(out, _brute_force(v.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_fm_registered_builder():
  fm = build_cross("fm", 4, 3, {}, rngs=nnx.Rngs(0))
  assert isinstance(fm, FactorizationMachine)
  assert fm.out_dim == 1


def test_deepfm_is_fm_with_parallel_deep():
  v = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
  fm = build_cross("fm", 5, 3, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  deepfm = build_cross("deepfm", 5, 3, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert fm.parallel_deep is False
  assert deepfm.parallel_deep is True
  assert deepfm.out_dim == 1
  np.testing.assert_allclose(np.asarray(deepfm(v)), _brute_force(v.astype(np.float64)), rtol=1e-5, atol=1e-5)
