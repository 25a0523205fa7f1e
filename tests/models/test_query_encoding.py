"""Search queries in the hybrid: shared or separate encoder weights, the bi-encoder relevance term, the switches."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.batch import TextBlock, Texts
from rec_jax.text.frozen import count_parameters
from tests.batches import token_block
from tests.models.building import model as build
from tests.models.test_hybrid import FEATURES, VOCAB, _batch, _model_cfg

QUERY_FEATURES = ml_collections.ConfigDict({**FEATURES.to_dict(), "query": "query", "query_max_length": 5})


def _cfg(encoder="shared", match=True, **kw):
  return _model_cfg(query=dict(encoder=encoder, match=match), field_towers=("text", "query"), **kw)


def _search_batch(n=6, slots=3, queries=4):
  rng = np.random.default_rng(1)
  batch = _batch(n, slots)
  return batch.replace(query=token_block(rng.integers(1, 50, (queries, 5)), slot=rng.integers(0, queries, n)))


def _build(cfg, features=QUERY_FEATURES):
  return build("hybrid", cfg, features, VOCAB, rngs=nnx.Rngs(0))


def _trainable(model):
  return count_parameters(nnx.state(model, nnx.Param))


def test_shared_weights_encode_a_query_as_the_item_text_tower_does():
  model = _build(_cfg("shared"))
  assert model.query is None and model.num_fields == 3 + 2   # age, category, price + text, query
  batch = _search_batch()
  # The same tokens as a query and as an item text give the same vector: one tower reads both.
  texts = batch.text.texts
  truncated = Texts(ids=texts.ids[:, :5], mask=texts.mask[:, :5], types=texts.types[:, :5])
  batch = batch.replace(query=TextBlock(truncated, batch.query.slot))
  np.testing.assert_allclose(model.text.encode(batch.query.texts), model.text.encode(truncated), atol=1e-6)
  encoders = model.text_encoders()
  assert encoders["query"] is encoders["text"] is model.text.bert


def test_separate_weights_are_a_second_tower_of_the_same_shape():
  shared, separate = _build(_cfg("shared")), _build(_cfg("separate"))
  text_params = _trainable(nnx.state(shared.text, nnx.Param))
  assert _trainable(separate) == _trainable(shared) + text_params
  assert separate.text_encoders()["query"] is separate.query.bert is not separate.text.bert
  batch = _search_batch()
  a, b = separate.text.encode(batch.query.texts), separate.query.encode(batch.query.texts)
  assert not np.allclose(a, b)   # own (here: own random) weights
  assert bool(jnp.all(jnp.isfinite(separate(batch))))


def test_relevance_is_the_dot_product_of_query_and_item_text_vectors():
  batch = _search_batch()
  with_match, without = _build(_cfg("shared", match=True)), _build(_cfg("shared", match=False))
  q = with_match.text.encode(batch.query.texts)[batch.query.slot]
  t = with_match.text.encode(batch.text.texts)[batch.text.slot]
  np.testing.assert_allclose(with_match(batch) - without(batch), jnp.sum(q * t, axis=-1), atol=1e-5)


def test_queries_change_the_score_only_when_read():
  batch = _search_batch()
  texts = batch.query.texts
  other = batch.replace(query=TextBlock(texts.replace(ids=np.roll(texts.ids, 1, axis=0)), batch.query.slot))
  model = _build(_cfg("shared"))
  assert not np.allclose(model(batch), model(other))
  ignored = _build(_model_cfg(query=dict(encoder="none", match=True)))
  assert ignored.num_fields == 7 and ignored.text_encoders() == {"text": ignored.text.bert}
  np.testing.assert_array_equal(ignored(batch), ignored(other))
  # No query column in the data: the query config is not even read.
  assert _build(_model_cfg(), FEATURES).query_encoder == "none"


def test_bad_query_settings_are_named_errors():
  with pytest.raises(ValueError, match="model.query.encoder='twin'"):
    _build(_cfg("twin"))
  with pytest.raises(ValueError, match="model.use_text=False"):
    _build(_cfg("shared", use_text=False))
