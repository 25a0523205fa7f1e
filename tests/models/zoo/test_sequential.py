"""Tests that the sequential recommender builds each encoder's training objective on history + clicked item (SASRec:
next item at every position; BERT4Rec: cloze with the clicked item always masked; mean: the clicked item), scores
with the encoder's history vector against item-id rows, and refuses encoders that need the target."""

from __future__ import annotations

import functools

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.models.zoo.sequential import SequentialRecommender
from rec_jax.tasks import next_item
from tests.batches import make_batch
from tests.models.building import model as build

DIM = 8
VOCAB = {"item_id": 12, "user_id": 5}
# Full, partial, empty and OOV-holding histories (left-aligned, 0 = PAD, 1 = OOV); row 3 clicked a cold (OOV) item.
HISTORY = np.array([[3, 4, 5, 6], [7, 2, 0, 0], [0, 0, 0, 0], [1, 9, 0, 0]])
ITEM = np.array([8, 10, 11, 1])
BATCH = make_batch(history=HISTORY, item_id=ITEM, user_id=np.array([2, 3, 4, 2]), label=np.ones(4, np.float32))
COUNT = np.array([4, 2, 0, 2])  # Real history items per row.
# History then the clicked item right after the last real history item.
SEQUENCE = np.array([[3, 4, 5, 6, 8], [7, 2, 10, 0, 0], [11, 0, 0, 0, 0], [1, 9, 1, 0, 0]])
POSITION = np.arange(5)[None]


@functools.lru_cache(maxsize=None)
def _model(history: str) -> SequentialRecommender:
  """The registered model with every parameter random; built abstractly and then filled, which skips compiling the
  initialisers."""
  model_cfg = ml_collections.ConfigDict(dict(embed_dim=DIM, history=history, history_options=dict(num_layers=1),
                                             embedding_init_std=0.05))
  model = nnx.eval_shape(lambda: build("sequential", model_cfg, ml_collections.ConfigDict(dict(history_length=4)),
                                                          VOCAB, label_offset=0.5, rngs=nnx.Rngs(0)))
  leaves, treedef = jax.tree.flatten(nnx.state(model, nnx.Param))
  rng = np.random.default_rng(0)
  nnx.update(model, jax.tree.unflatten(treedef, [rng.normal(0.0, 0.5, l.shape).astype(np.float32) for l in leaves]))
  return model


def _mask_prob(task_options) -> float:
  """The cloze rate the next_item task gives the model for `task_options`."""
  return next_item.Options.from_config(task_options).mask_prob


def _embed(model: SequentialRecommender, ids: np.ndarray) -> np.ndarray:
  return np.asarray(model.items.embedding[...])[ids]


def test_sasrec_targets_are_the_next_item_at_each_real_position():
  model = _model("sasrec")
  states, targets, weights = model.next_item_targets(BATCH, jax.random.key(0), mask_prob=_mask_prob({}))
  expected_targets = np.array([[4, 5, 6, 8, 0], [2, 10, 0, 0, 0], [0, 0, 0, 0, 0], [9, 1, 0, 0, 0]])
  # Position t < n predicts item t + 1; OOV (row 3, t = 1) and PAD are never targets; an empty history has none.
  expected_weights = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], np.float32)
  np.testing.assert_array_equal(np.asarray(targets), expected_targets)
  np.testing.assert_array_equal(np.asarray(weights), expected_weights)
  assert weights.dtype == np.float32 and states.shape == (4, 5, DIM)
  expected_states = model.encoder.states(_embed(model, SEQUENCE), SEQUENCE != 0)
  np.testing.assert_allclose(np.asarray(states), np.asarray(expected_states), rtol=1e-5, atol=1e-6)
  # Causal: the state after the last history item is the query the trained model serves with.
  query = np.asarray(model.query_vectors(BATCH))
  for b in np.flatnonzero(COUNT):
    np.testing.assert_allclose(np.asarray(states)[b, COUNT[b] - 1], query[b], rtol=1e-4, atol=1e-5)


def _bert4rec_states(model, masked: np.ndarray) -> np.ndarray:
  encoder = model.encoder
  return np.asarray(encoder.states(encoder.mask_items(_embed(model, SEQUENCE), masked), SEQUENCE != 0))


@pytest.mark.parametrize("mask_prob", [0.0, 1.0])
def test_bert4rec_masks_the_clicked_item_always_and_history_items_with_mask_prob(mask_prob):
  model = _model("bert4rec")
  states, targets, weights = model.next_item_targets(BATCH, jax.random.key(1), mask_prob=mask_prob)
  masked = (POSITION == COUNT[:, None]) if mask_prob == 0.0 else SEQUENCE != 0
  np.testing.assert_array_equal(np.asarray(targets), SEQUENCE)
  np.testing.assert_array_equal(np.asarray(weights), (masked & (SEQUENCE > 1)).astype(np.float32))
  np.testing.assert_allclose(np.asarray(states), _bert4rec_states(model, masked), rtol=1e-5, atol=1e-6)
  other = (POSITION == COUNT[:, None]) if mask_prob == 1.0 else SEQUENCE != 0
  assert not np.allclose(np.asarray(states), _bert4rec_states(model, other), atol=1e-4)  # The mask set matters.


@pytest.mark.parametrize("options, mask_prob", [({}, 0.2), ({"mask_prob": 0.5}, 0.5)])
def test_bert4rec_draws_the_mask_from_the_rng_among_real_positions(options, mask_prob):
  model = _model("bert4rec")
  rng = jax.random.key(8)  # Draws a history position in [0.15, 0.2) and one in [0.2, 0.25): the default counts.
  states, _, weights = model.next_item_targets(BATCH, rng, mask_prob=_mask_prob(options))
  drawn = np.asarray(jax.random.uniform(rng, SEQUENCE.shape)) < mask_prob
  masked = (SEQUENCE != 0) & (drawn | (POSITION == COUNT[:, None]))
  assert (masked & (POSITION != COUNT[:, None])).any()  # Some history item is masked too ...
  assert (~masked & (SEQUENCE != 0)).any()  # ... and some is not.
  np.testing.assert_array_equal(np.asarray(weights), (masked & (SEQUENCE > 1)).astype(np.float32))
  np.testing.assert_allclose(np.asarray(states), _bert4rec_states(model, masked), rtol=1e-5, atol=1e-6)


def test_mean_history_predicts_the_clicked_item():
  model = _model("mean")
  states, targets, weights = model.next_item_targets(BATCH, jax.random.key(0), mask_prob=_mask_prob({}))
  assert states.shape == (4, 1, DIM)
  np.testing.assert_array_equal(np.asarray(states)[:, 0], np.asarray(model.query_vectors(BATCH)))
  np.testing.assert_array_equal(np.asarray(targets), ITEM[:, None])
  np.testing.assert_array_equal(np.asarray(weights), np.ones((4, 1), np.float32))


@pytest.mark.parametrize("history", ["sasrec", "bert4rec", "mean"])
def test_query_is_the_encoder_on_the_history_and_candidates_are_item_rows(history):
  model = _model(history)
  table = np.asarray(model.item_table())
  np.testing.assert_array_equal(table, np.asarray(model.items.embedding[...]))
  assert table.shape == (12, DIM)
  query, candidate = np.asarray(model.query_vectors(BATCH)), np.asarray(model.candidate_vectors(BATCH))
  np.testing.assert_array_equal(candidate, table[ITEM])
  if history == "mean":
    real = (HISTORY != 0)[..., None]
    expected = np.sum(table[HISTORY] * real, axis=1) / np.maximum(real.sum(axis=1), 1)
  else:
    expected = np.asarray(model.encoder(table[HISTORY], HISTORY != 0))
  np.testing.assert_allclose(query, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(model(BATCH)), 0.5 + np.sum(query * candidate, axis=-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("history", ["none", "din"])
def test_history_encoders_that_cannot_read_the_sequence_alone_are_refused(history):
  with pytest.raises(ValueError, match=f"model.name=sequential .*not '{history}'"):
    _model(history)
