"""Tests that SASRec matches a numpy loop of the authors' blocks, is causal, ignores padding and returns the state
at the last real item."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flax import nnx

from rec_jax.experiment import build_history_encoder
from rec_jax.models.history.sasrec import SASRec, Options

from tests.models.numpy_reference import dense as _dense, layer_norm as _norm, param as _p, random_normal as _random
from tests.models.numpy_reference import randomize_params

BATCH, LENGTH, DIM = 3, 6, 8
MASK = np.arange(LENGTH)[None] < np.array([[6], [4], [0]])  # Full, partial and empty histories, left-aligned.


def _model(seed: int = 0, **cfg) -> SASRec:
  """A SASRec with every parameter random (non-trivial LayerNorm biases, attention biases, ...)."""
  model = SASRec(DIM, Options.from_config({"max_length": LENGTH + 1, "num_heads": 2, **cfg}), rngs=nnx.Rngs(seed))
  return randomize_params(model, seed, 0.5)


def _attention(att, queries: np.ndarray, keys: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Causal attention over real keys, looping over rows, heads and queries; no output projection."""
  heads, d = att.num_heads, att.head_dim
  q, k, v = _dense(att.query, queries), _dense(att.key, keys), _dense(att.value, keys)
  out = np.zeros_like(q)
  for n in range(q.shape[0]):
    for h in range(heads):
      cols = slice(h * d, (h + 1) * d)
      for i in range(q.shape[1]):
        js = [j for j in range(i + 1) if mask[n, j]]
        if js:
          scores = np.array([np.dot(q[n, i, cols], k[n, j, cols]) for j in js]) / math.sqrt(d)
          w = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
          out[n, i, cols] = sum(wj * v[n, j, cols] for wj, j in zip(w, js))
  return out


def _reference(model: SASRec, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
  keep = mask[..., None].astype(np.float64)
  x = (items * math.sqrt(DIM) + _p(model.positions.embedding)[:items.shape[1]]) * keep
  for block in model.blocks:
    queries = _norm(block.attention_norm, x)
    z = _norm(block.ffn_norm, _attention(block.attention, queries, x, mask) + queries)
    first, second = block.ffn.layers
    x = (_dense(second, np.maximum(_dense(first, z), 0)) + z) * keep
  return _norm(model.final_norm, x) * keep


def test_states_match_numpy_blocks():
  model, items = _model(), _random(1, (BATCH, LENGTH, DIM))
  np.testing.assert_allclose(np.asarray(model.states(items, MASK)), _reference(model, items.astype(np.float64), MASK),
                             rtol=1e-4, atol=1e-4)


def test_defaults_and_registry():
  model = build_history_encoder("sasrec", DIM, {}, rngs=nnx.Rngs(0))
  assert isinstance(model, SASRec) and model.objective == "causal"
  assert model.max_length == 50 and len(model.blocks) == 2 and model.blocks[0].attention.num_heads == 1


def test_states_are_causal():
  model, items = _model(), _random(2, (BATCH, LENGTH, DIM))
  states_of = nnx.jit(lambda m, x, mask: m.states(x, mask))  # One compilation for the loop below.
  states = np.asarray(states_of(model, items, MASK))
  for t in range(LENGTH - 1):
    later = items.copy()
    later[:, t + 1:] = _random(3 + t, (BATCH, LENGTH - t - 1, DIM))
    np.testing.assert_allclose(np.asarray(states_of(model, later, MASK))[:, :t + 1], states[:, :t + 1], atol=1e-5)
    earlier = items.copy()
    earlier[:, t] += _random(20 + t, DIM)
    changed = np.abs(np.asarray(states_of(model, earlier, MASK)) - states)[0, t:]
    assert np.all(changed.max(axis=-1) > 1e-4)  # The full row's states at t and every later position move.


def test_state_at_t_is_the_output_for_the_history_cut_after_t():
  model, items = _model(), _random(3, (BATCH, LENGTH, DIM))
  states = np.asarray(model.states(items, MASK))
  for t in (2,):
    prefix = np.asarray(model.states(items[:, :t + 1], MASK[:, :t + 1]))
    np.testing.assert_allclose(prefix, states[:, :t + 1], rtol=1e-5, atol=1e-5)


def test_padding_changes_nothing():
  model, items = _model(), _random(4, (BATCH, LENGTH, DIM))
  padded = np.where(MASK[..., None], items, _random(5, items.shape, 10.0))
  np.testing.assert_allclose(np.asarray(model.states(padded, MASK)), np.asarray(model.states(items, MASK)), atol=1e-6)
  np.testing.assert_allclose(np.asarray(model(padded, MASK)), np.asarray(model(items, MASK)), atol=1e-6)
  np.testing.assert_array_equal(np.asarray(model.states(items, MASK))[~MASK], 0.0)


def test_call_returns_last_real_state_and_zeros_for_empty_history():
  model, items = _model(), _random(6, (BATCH, LENGTH, DIM))
  states, out = np.asarray(model.states(items, MASK)), np.asarray(model(items, MASK))
  assert out.shape == (BATCH, DIM)
  np.testing.assert_allclose(out[0], states[0, 5], rtol=1e-6)
  np.testing.assert_allclose(out[1], states[1, 3], rtol=1e-6)
  np.testing.assert_array_equal(out[2], np.zeros(DIM))
  assert np.all(np.isfinite(np.asarray(model.states(items, np.zeros_like(MASK)))))


def test_jit_matches_eager():
  model, items = _model(), _random(7, (BATCH, LENGTH, DIM))
  jitted = nnx.jit(lambda m, x, mask: m(x, mask))(model, items, MASK)
  np.testing.assert_allclose(np.asarray(jitted), np.asarray(model(items, MASK)), rtol=1e-5, atol=1e-6)


def test_bad_options_name_the_key():
  with pytest.raises(ValueError, match="num_heads"):
    SASRec(DIM, Options.from_config({"num_heads": 3}), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="num_layers"):
    SASRec(DIM, Options.from_config({"num_layers": 0}), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="max_length"):
    _model(max_length=LENGTH - 1).states(_random(8, (BATCH, LENGTH, DIM)), MASK)
