"""Tests that the `lr` cross contributes nothing: a zero-width output and no deep MLP beside it."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from flax import nnx

from rec_jax.experiment import build_cross


def test_lr_is_zero_width():
  lr = build_cross("lr", 5, 3, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  out = np.asarray(lr(np.ones((4, 5, 3), np.float32)))
  assert out.shape == (4, 0)
  assert out.dtype == np.float32
  assert lr.out_dim == 0
  assert lr.parallel_deep is False
  assert not jax.tree.leaves(nnx.state(lr, nnx.Param))
