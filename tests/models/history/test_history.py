"""Tests of the history-encoder registry and interface (every entry maps a left-aligned history to a finite
[batch, dim] vector, also for an empty history, under jit) and of the mean encoder against numpy."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_history_encoder
from rec_jax.models.cf_tower import CFTower
from rec_jax.models.history import HISTORY
from rec_jax.models.history.mean import MeanHistory
from tests.batches import make_batch

BATCH, LENGTH, DIM = 3, 6, 8
MASK = np.arange(LENGTH)[None] < np.array([[6], [2], [0]])  # Full, partial and empty histories, left-aligned.
OPTIONS = {"max_length": LENGTH + 1, "num_layers": 1, "attention_mlp": (4,)}


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_mean_is_the_masked_mean_and_zero_for_an_empty_history():
  items = _random(0, (BATCH, LENGTH, DIM))
  out = np.asarray(MeanHistory(DIM, rngs=nnx.Rngs(0))(items, MASK))
  np.testing.assert_allclose(out[0], items[0].mean(axis=0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[1], items[1, :2].mean(axis=0), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(out[2], np.zeros(DIM))


def test_registry_holds_every_encoder_and_names_valid_ones():
  assert list(HISTORY) == ["bert4rec", "din", "mean", "sasrec"]
  with pytest.raises(KeyError, match="bert4rec, din, mean, sasrec"):
    HISTORY.get("gru4rec")


@pytest.mark.parametrize("name,objective", [("mean", None), ("din", None), ("sasrec", "causal"),
                                            ("bert4rec", "masked")])
def test_every_encoder_follows_the_interface(name, objective):
  encoder = build_history_encoder(name, DIM, ml_collections.ConfigDict(OPTIONS), rngs=nnx.Rngs(0))
  assert encoder.objective == objective
  items, target = _random(1, (BATCH, LENGTH, DIM)), _random(2, (BATCH, DIM))
  out = nnx.jit(lambda e, x, m, t: e(x, m, t))(encoder, items, MASK, target)
  assert out.shape == (BATCH, DIM) and np.all(np.isfinite(np.asarray(out)))
  if objective is not None:
    assert encoder.states(items, MASK).shape == (BATCH, LENGTH, DIM)


def test_cf_tower_passes_options_and_the_candidate_item():
  din = lambda dim, rngs: build_history_encoder("din", dim, {"attention_mlp": (4,)}, rngs=rngs)  # noqa: E731
  tower = CFTower(5, 9, DIM, din, rngs=nnx.Rngs(0))
  assert tower.history.unit.layers[0].kernel[...].shape == (4 * DIM, 4)
  hist = np.array([[3, 4, 0], [0, 0, 0]])
  batch = make_batch(user_id=np.array([2, 3]), item_id=np.array([5, 6]), history=hist)
  out = tower(batch)
  expected = tower.history(tower.items(hist), hist != 0, tower.items(batch.item_id))
  np.testing.assert_allclose(np.asarray(out["history"]), np.asarray(expected), rtol=1e-6)
  mean = lambda dim, rngs: build_history_encoder("mean", dim, {}, rngs=rngs)  # noqa: E731
  assert CFTower(5, 9, DIM, mean, rngs=nnx.Rngs(0)).history.objective is None  # no options: the defaults
