"""Tests that the sequential recommender builds each encoder's training objective on history + clicked item (SASRec:
next item at every position; BERT4Rec: cloze with the clicked item always masked; mean: the clicked item), scores
with the encoder's history vector against item-id rows, and refuses encoders that need the target; with text, that
every item vector is its id vector plus its text's vector (a cold item's from its own text) in the softmax table,
the encoder's inputs and the candidates."""

from __future__ import annotations

import functools

import jax
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.batch import PackedSequences, Texts
from rec_jax.models.dropout import reseed
from rec_jax.models.id_embedding import with_embedding_penalty
from rec_jax.models.zoo.sequential import SequentialRecommender
from rec_jax.tasks import next_item
from tests.batches import make_batch, token_block
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
                                             embedding_init_std=0.05, use_text=False))
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


TEXT_VOCAB = {**VOCAB, "text": 40}
# Token ids of each item-vocabulary id's text (8 tokens, the last 3 padding); ids 0 (PAD), 1 (OOV) and 11 have none.
VOCAB_TOKENS = (np.arange(12 * 8).reshape(12, 8) * 7) % 39 + 1
VOCAB_MASK = np.broadcast_to(np.arange(8) < 5, (12, 8)).astype(np.int32)
KNOWN = np.ones(12, bool)
KNOWN[[0, 1, 11]] = False


@functools.lru_cache(maxsize=None)
def _text_model(history: str = "sasrec") -> SequentialRecommender:
  """A sequential model with a random-init tiny BERT text tower and every vocabulary id's text attached."""
  model_cfg = ml_collections.ConfigDict(dict(
      embed_dim=DIM, history=history, history_options=dict(num_layers=1), embedding_init_std=0.05, use_text=True,
      text=dict(pretrained="", mode="full", bert=dict(hidden_size=8, num_layers=1, num_heads=2,
                                                      intermediate_size=16))))
  features = ml_collections.ConfigDict(dict(history_length=4, text=("text",), text_max_length=8))
  model = build("sequential", model_cfg, features, TEXT_VOCAB, rngs=nnx.Rngs(3))
  model.attach_item_texts(Texts(ids=VOCAB_TOKENS, mask=VOCAB_MASK, types=np.zeros_like(VOCAB_TOKENS)), KNOWN)
  return model


def _text_vectors(model, ids, mask) -> np.ndarray:
  return np.asarray(model.text(ids, mask, np.zeros_like(ids)))


def test_text_item_table_is_the_id_row_plus_the_text_vector_where_the_id_has_text():
  model = _text_model()
  text = _text_vectors(model, VOCAB_TOKENS, VOCAB_MASK) * KNOWN[:, None]
  expected = np.asarray(model.items.embedding[...]) + text
  np.testing.assert_allclose(np.asarray(model.item_table()), expected, rtol=1e-5, atol=1e-6)
  assert np.abs(text[KNOWN]).min(axis=1).max() > 0 and not text[~KNOWN].any()


def test_text_candidates_read_their_own_text_so_a_cold_item_is_placed_by_it():
  model = _text_model()
  # Rows 0-2 are items 8, 10, 11 with their vocabulary texts; row 3 is a cold item (OOV) with a text of its own.
  tokens = np.concatenate([VOCAB_TOKENS[[8, 10, 11]], (np.arange(8) * 5 % 39 + 1)[None]])
  batch = BATCH.replace(text=token_block(tokens, mask=VOCAB_MASK[:4]))
  candidate = np.asarray(model.candidate_vectors(batch))
  ids = np.asarray(model.items.embedding[...])
  np.testing.assert_allclose(candidate, ids[ITEM] + _text_vectors(model, tokens, VOCAB_MASK[:4]), rtol=1e-5,
                             atol=1e-6)
  table = np.asarray(model.item_table())
  np.testing.assert_allclose(candidate[:2], table[[8, 10]], rtol=1e-5, atol=1e-6)   # warm: its table row
  assert np.abs(candidate[3] - ids[1]).max() > 1e-3   # cold: more than the shared OOV vector


def test_text_reaches_the_encoders_inputs_in_queries_and_packed_training():
  model = _text_model()
  table = np.asarray(model.item_table())
  np.testing.assert_allclose(np.asarray(model.query_vectors(BATCH)),
                             np.asarray(model.encoder(table[HISTORY], HISTORY != 0)), rtol=1e-5, atol=1e-6)
  seq = np.array([[3, 4, 5, 7, 8], [9, 2, 10, 0, 0]])
  segment, position = np.array([[1, 1, 1, 2, 2], [1, 1, 1, 0, 0]]), np.array([[0, 1, 2, 0, 1], [0, 1, 2, 0, 0]])
  states, _, _ = model.packed_targets(PackedSequences(seq, segment, position), jax.random.key(0), mask_prob=0.2)
  expected = model.encoder.states(table[seq], segment > 0, segment, position)
  np.testing.assert_allclose(np.asarray(states), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_text_model_without_attached_texts_says_what_is_missing():
  model_cfg = ml_collections.ConfigDict(dict(embed_dim=DIM, history="sasrec", use_text=True, text=dict(
      pretrained="", mode="full", bert=dict(hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16))))
  features = ml_collections.ConfigDict(dict(history_length=4, text=("text",), text_max_length=8))
  model = nnx.eval_shape(lambda: build("sequential", model_cfg, features, TEXT_VOCAB, rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match="no item texts; attach_item_texts"):
    model.item_table()
  with pytest.raises(ValueError, match="item texts for 5 ids, but the item vocabulary has 12"):
    model.attach_item_texts(Texts(pooled=np.zeros((5, 3), np.float32)), np.ones(5, bool))


def test_id_dropout_reads_dropped_items_as_new_ones_in_training_only():
  model_cfg = ml_collections.ConfigDict(dict(
      embed_dim=DIM, history="sasrec", history_options=dict(num_layers=1), use_text=True,
      cf_options=dict(id_dropout=0.5), text=dict(pretrained="", mode="full", bert=dict(
          hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16))))
  features = ml_collections.ConfigDict(dict(history_length=4, text=("text",), text_max_length=8))
  model = build("sequential", model_cfg, features, TEXT_VOCAB, rngs=nnx.Rngs(3))
  model.attach_item_texts(Texts(ids=VOCAB_TOKENS, mask=VOCAB_MASK, types=np.zeros_like(VOCAB_TOKENS)), KNOWN)
  ids, text = np.asarray(model.items.embedding[...]), _text_vectors(model, VOCAB_TOKENS, VOCAB_MASK) * KNOWN[:, None]
  np.testing.assert_allclose(np.asarray(model.item_table()), ids + text, rtol=1e-5, atol=1e-6)   # evaluation
  model.train()
  reseed(model, jax.random.key(4))
  dropped = ~np.asarray(model.id_dropout.keep((12,))) & KNOWN
  assert 0 < dropped.sum() < KNOWN.sum()
  expected = np.where(dropped[:, None], ids[1], ids) + text
  np.testing.assert_allclose(np.asarray(model.item_table()), expected, rtol=1e-5, atol=1e-6)
  # The encoder's inputs read the same items as dropped within the step.
  vectors, _ = with_embedding_penalty(lambda m: m.item_vectors(HISTORY))(model)   # (training records id norms)
  np.testing.assert_allclose(np.asarray(vectors), expected[HISTORY], rtol=1e-5, atol=1e-6)


def test_id_dropout_needs_text():
  with pytest.raises(ValueError, match="id_dropout .* needs model.use_text"):
    build("sequential", ml_collections.ConfigDict(dict(embed_dim=DIM, history="sasrec", use_text=False,
                                                       cf_options=dict(id_dropout=0.2))),
          ml_collections.ConfigDict(dict(history_length=4)), VOCAB, rngs=nnx.Rngs(0))
