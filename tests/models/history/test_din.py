"""Tests that DIN's target attention matches a numpy loop over the attention unit (PReLU MLP over
[h, t, h - t, h * t]), keeps raw weights by default and normalises them only with `din_softmax`."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.models.history.din import DIN, Options
from rec_jax.experiment import build_history_encoder

from tests.models.numpy_reference import param as _p, random_normal as _random, randomize_params

BATCH, LENGTH, DIM = 3, 6, 8
HIDDEN = (6, 4)
MASK = np.arange(LENGTH)[None] < np.array([[6], [3], [0]])  # Full, partial and empty histories, left-aligned.


def _model(softmax: bool = False, seed: int = 0) -> DIN:
  """A DIN with every parameter random, PReLU slopes included."""
  model = DIN(DIM, Options.from_config({"attention_mlp": HIDDEN, "din_softmax": softmax}), rngs=nnx.Rngs(seed))
  return randomize_params(model, seed, 0.5)


def _weights(model: DIN, items: np.ndarray, mask: np.ndarray, target: np.ndarray, softmax: bool) -> np.ndarray:
  """Scores of the attention unit for every (row, item) pair; raw (0 at padding) or softmax over the real items."""
  unit = model.unit
  t = np.broadcast_to(target[:, None], items.shape)
  x = np.concatenate([items, t, items - t, items * t], axis=-1)
  for layer, prelu in zip(unit.layers, unit.activations):
    x = x @ _p(layer.kernel) + _p(layer.bias)
    assert np.any(x > 0) and np.any(x < 0)  # Both slopes of the PReLU are exercised.
    x = np.maximum(x, 0) + _p(prelu.slope) * np.minimum(x, 0)
  scores = x @ _p(unit.score.kernel)[:, 0] + _p(unit.score.bias)[0]
  if not softmax:
    return np.where(mask, scores, 0.0)
  exp = np.where(mask, np.exp(scores - scores.max(axis=1, keepdims=True)), 0.0)
  return exp / np.maximum(exp.sum(axis=1, keepdims=True), 1e-30)


@pytest.mark.parametrize("softmax", [False, True])
def test_weights_match_numpy_and_output_is_their_weighted_sum(softmax):
  model, items, target = _model(softmax), _random(1, (BATCH, LENGTH, DIM)), _random(2, (BATCH, DIM))
  weights = np.asarray(model.attention_weights(items, MASK, target))
  expected = _weights(model, items.astype(np.float64), MASK, target.astype(np.float64), softmax)
  np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(weights[~MASK], 0.0)
  out = np.asarray(model(items, MASK, target))
  np.testing.assert_allclose(out, np.einsum("bl,bld->bd", expected, items), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(out[2], np.zeros(DIM))  # Empty history.


def test_raw_weights_keep_intensity_and_softmax_weights_sum_to_one():
  items, target = _random(3, (BATCH, LENGTH, DIM)), _random(4, (BATCH, DIM))
  raw = np.asarray(_model(False).attention_weights(items, MASK, target))
  assert not np.allclose(raw[:2].sum(axis=1), 1.0, atol=1e-2)
  normalised = np.asarray(_model(True).attention_weights(items, MASK, target))
  np.testing.assert_allclose(normalised.sum(axis=1), [1.0, 1.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(normalised[:2], np.asarray(jax.nn.softmax(np.where(MASK, raw, -np.inf)[:2], axis=1)),
                             rtol=1e-5)


def test_output_depends_on_target_but_not_on_padding():
  model, items, target = _model(), _random(5, (BATCH, LENGTH, DIM)), _random(6, (BATCH, DIM))
  out = np.asarray(model(items, MASK, target))
  assert np.all(np.abs(np.asarray(model(items, MASK, _random(7, (BATCH, DIM)))) - out)[:2].max(axis=1) > 1e-4)
  padded = np.where(MASK[..., None], items, _random(8, items.shape, 10.0))
  np.testing.assert_array_equal(np.asarray(model(padded, MASK, target)), out)


def test_missing_target_raises():
  with pytest.raises(ValueError, match="target"):
    _model()(_random(9, (BATCH, LENGTH, DIM)), MASK)


def test_registry_defaults_and_bad_options():
  model = build_history_encoder("din", DIM, ml_collections.ConfigDict(), rngs=nnx.Rngs(0))
  assert isinstance(model, DIN) and model.objective is None and model.softmax is False
  assert [layer.kernel[...].shape for layer in model.unit.layers] == [(4 * DIM, 80), (80, 40)]
  assert [prelu.slope[...].shape for prelu in model.unit.activations] == [(80,), (40,)]
  np.testing.assert_array_equal(np.asarray(model.unit.activations[0].slope[...]), 0.25)
  for bad in ({"attention_mlp": 80}, {"attention_mlp": (80, 0)}):
    with pytest.raises(ValueError, match="attention_mlp"):
      DIN(DIM, Options.from_config(bad), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="din_softmax"):
    DIN(DIM, Options.from_config({"din_softmax": "yes"}), rngs=nnx.Rngs(0))


def test_dropout_acts_on_the_attention_units_hidden_layers_in_training_only():
  from rec_jax.models.dropout import Dropout, reseed  # pylint: disable=import-outside-toplevel
  model = DIN(DIM, Options.from_config({"attention_mlp": HIDDEN, "dropout": 0.5}), rngs=nnx.Rngs(0))
  model = randomize_params(model, 0, 0.5)
  assert [type(d) for d in model.unit.dropouts] == [Dropout, Dropout]
  rng = np.random.default_rng(1)
  items, target = rng.normal(size=(BATCH, LENGTH, DIM)), rng.normal(size=(BATCH, DIM))
  model.eval()
  evaluated = np.asarray(model(items, MASK, target))
  # Evaluation mode is deterministic and equals the dropout-free computation.
  np.testing.assert_allclose(evaluated, np.einsum("bl,bld->bd", _weights(model, items, MASK, target, False), items),
                             rtol=1e-4, atol=1e-5)
  model.train()
  reseed(model, jax.random.key(2))
  trained = np.asarray(model(items, MASK, target))
  assert not np.allclose(trained[:2], evaluated[:2])   # (row 2's history is empty: 0 either way)
  np.testing.assert_array_equal(trained[2], 0.0)
  assert all(d is None for d in _model().unit.dropouts)   # rate 0: no dropout modules at all
