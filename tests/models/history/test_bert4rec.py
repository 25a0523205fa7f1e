"""Tests that BERT4Rec matches a numpy loop of BERT's post-LN blocks, attends both ways over real items only, and
predicts the next item from a [mask] vector appended after the last real item."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flax import nnx

from rec_jax.models.history.bert4rec import BERT4Rec, Options
from rec_jax.experiment import build_history_encoder

from tests.models.numpy_reference import dense as _dense, layer_norm as _norm, param as _p, random_normal as _random
from tests.models.numpy_reference import randomize_params

BATCH, LENGTH, DIM = 3, 6, 8
MASK = np.arange(LENGTH)[None] < np.array([[5], [2], [0]])  # Left-aligned histories of 5, 2 and 0 items.
COUNTS = MASK.sum(axis=1)


def _model(seed: int = 0) -> BERT4Rec:
  """A BERT4Rec with every parameter random (LayerNorm biases, [mask] vector, ...)."""
  model = BERT4Rec(DIM, Options.from_config({"max_length": LENGTH + 1}), rngs=nnx.Rngs(seed))
  return randomize_params(model, seed, 0.5)


def _gelu(x: np.ndarray) -> np.ndarray:
  """BERT's tanh approximation of GELU."""
  return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _attention(att, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Every query attends to every real key, looping over rows, heads and queries; then the output projection."""
  heads, d = att.num_heads, att.head_dim
  q, k, v = _dense(att.query, x), _dense(att.key, x), _dense(att.value, x)
  out = np.zeros_like(q)
  for n in range(x.shape[0]):
    js = np.flatnonzero(mask[n])
    for h in range(heads):
      cols = slice(h * d, (h + 1) * d)
      for i in range(x.shape[1]):
        if len(js):
          scores = np.array([np.dot(q[n, i, cols], k[n, j, cols]) for j in js]) / math.sqrt(d)
          w = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
          out[n, i, cols] = sum(wj * v[n, j, cols] for wj, j in zip(w, js))
  return _dense(att.output, out)


def _reference(model: BERT4Rec, items: np.ndarray, mask: np.ndarray) -> np.ndarray:
  x = _norm(model.embedding_norm, items + _p(model.positions.embedding)[:items.shape[1]])
  for block in model.blocks:
    h = _norm(block.attention_norm, x + _attention(block.attention, x, mask))
    first, second = block.ffn.layers
    x = _norm(block.ffn_norm, h + _dense(second, _gelu(_dense(first, h))))
  return x * mask[..., None]


def _with_mask_at_count(model: BERT4Rec, items: np.ndarray):
  """Items and mask [batch, length + 1] with the [mask] vector written at position n = number of real items."""
  extended = np.concatenate([items, np.zeros((BATCH, 1, DIM), np.float32)], axis=1)
  mask = np.concatenate([MASK, np.zeros((BATCH, 1), bool)], axis=1)
  for n, count in enumerate(COUNTS):
    extended[n, count] = np.asarray(model.mask_embedding[...])
    mask[n, count] = True
  return extended, mask


def test_states_match_numpy_blocks():
  model, items = _model(), _random(1, (BATCH, LENGTH, DIM))
  np.testing.assert_allclose(np.asarray(model.states(items, MASK)), _reference(model, items.astype(np.float64), MASK),
                             rtol=1e-4, atol=1e-4)


def test_defaults_and_registry():
  model = build_history_encoder("bert4rec", DIM, {}, rngs=nnx.Rngs(0))
  assert isinstance(model, BERT4Rec) and model.objective == "masked"
  assert model.max_length == 50 and len(model.blocks) == 2 and model.blocks[0].attention.num_heads == 2
  assert model.mask_embedding[...].shape == (DIM,) and isinstance(model.mask_embedding, nnx.Param)


def test_later_items_change_earlier_states():
  model, items = _model(), _random(2, (BATCH, LENGTH, DIM))
  later = items.copy()
  later[0, 4] += _random(9, DIM)  # The last real item of row 0 (a constant shift would vanish in LayerNorm).
  changed = np.abs(np.asarray(model.states(later, MASK)) - np.asarray(model.states(items, MASK)))
  assert np.all(changed[0, :4].max(axis=-1) > 1e-4)
  np.testing.assert_array_equal(changed[1:], 0.0)


def test_padding_changes_nothing():
  model, items = _model(), _random(3, (BATCH, LENGTH, DIM))
  padded = np.where(MASK[..., None], items, _random(4, items.shape, 10.0))
  np.testing.assert_allclose(np.asarray(model.states(padded, MASK)), np.asarray(model.states(items, MASK)), atol=1e-6)
  np.testing.assert_allclose(np.asarray(model(padded, MASK)), np.asarray(model(items, MASK)), atol=1e-6)


def test_call_is_the_state_of_a_mask_appended_after_the_last_real_item():
  model, items = _model(), _random(5, (BATCH, LENGTH, DIM))
  extended, mask = _with_mask_at_count(model, items)
  states = np.asarray(model.states(extended, mask))
  out = np.asarray(model(items, MASK))
  assert out.shape == (BATCH, DIM) and np.all(np.isfinite(out))
  np.testing.assert_allclose(out, states[np.arange(BATCH), COUNTS], rtol=1e-5, atol=1e-6)
  # The empty history's output is the [mask] vector alone at position 0, not a padding state.
  np.testing.assert_allclose(out[2], _reference(model, extended[2:, :1].astype(np.float64), mask[2:, :1])[0, 0],
                             rtol=1e-4, atol=1e-4)


def test_mask_items_replaces_exactly_the_masked_positions():
  model, items = _model(), _random(6, (BATCH, LENGTH, DIM))
  masked = np.random.default_rng(7).random((BATCH, LENGTH)) < 0.4
  out = np.asarray(model.mask_items(items, masked))
  np.testing.assert_array_equal(out[~masked], items[~masked])
  np.testing.assert_array_equal(out[masked], np.broadcast_to(np.asarray(model.mask_embedding[...]), out[masked].shape))


def test_history_must_leave_room_for_the_mask_position():
  model = BERT4Rec(DIM, Options.from_config({"max_length": LENGTH}), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="max_length"):
    model(_random(8, (BATCH, LENGTH, DIM)), MASK)
  with pytest.raises(ValueError, match="num_heads"):
    BERT4Rec(DIM, Options.from_config({"num_heads": 3}), rngs=nnx.Rngs(0))
