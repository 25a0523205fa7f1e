"""Tests that every registered cross builds from empty and small options and honours the registry contract."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_cross
from rec_jax.models.crosses import CROSSES

SMALL_OPTIONS = {
    "lr": {},
    "dnn": {},
    "fm": {},
    "deepfm": {},
    "dcn": {"num_layers": 1},
    "dcnv2": {"num_layers": 1, "low_rank": 2, "num_experts": 2, "structure": "stacked", "deep": (4,)},
    "autoint": {"num_layers": 1, "num_heads": 1, "head_dim": 2, "residual": False},
    "xdeepfm": {"layer_sizes": (2, 3)},
    "finalmlp": {"stream1": (4,), "stream2": (2,), "gating": False, "num_heads": 2},
}


def test_every_key_is_covered():
  assert set(CROSSES) == set(SMALL_OPTIONS)


@pytest.mark.parametrize("options", [False, True], ids=["empty", "small"])
@pytest.mark.parametrize("key", sorted(SMALL_OPTIONS))
def test_cross_contract(key, options):
  cfg = ml_collections.ConfigDict(SMALL_OPTIONS[key] if options else {})
  cross = build_cross(key, 5, 3, cfg, rngs=nnx.Rngs(0))
  out = cross(np.random.default_rng(1).normal(size=(4, 5, 3)).astype(np.float32))
  assert out.shape == (4, cross.out_dim)
  assert out.dtype == np.float32
  assert np.all(np.isfinite(np.asarray(out)))
  assert isinstance(cross.parallel_deep, bool)
