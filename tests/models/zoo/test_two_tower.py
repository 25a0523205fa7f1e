"""Tests that the two-tower model's towers match a numpy MLP over each side's embedded features (L2-normalised by
default), that each tower reads only its own side's inputs, that the score is their dot product, and that bad
configs are refused by name."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.batch import TextBlock
from rec_jax.models.zoo.two_tower import TwoTowerModel
from tests.batches import make_batch, token_block
from tests.models.building import model as build
from tests.models.numpy_reference import param as _p, randomize_params

N, DIM, SLOTS = 5, 4, 3
VOCAB = {"age": 5, "category": 7, "user_id": 11, "item_id": 13, "text": 50}
HISTORY = np.array([[3, 4, 5, 6], [7, 2, 0, 0], [0, 0, 0, 0], [12, 0, 0, 0], [9, 9, 8, 0]])  # Left-aligned.
# Batch fields by path: a field, or a feature of a field group, or the text block's token ids.
USER_SIDE = (("user_id",), ("categorical", "age"), ("history",))
ITEM_SIDE = (("item_id",), ("categorical", "category"), ("numeric", "price"), ("text", "ids"))


def _features(**kw) -> ml_collections.ConfigDict:
  cfg = dict(categorical=("age", "category"), numeric=("price",), user_features=("age",),
             item_features=("category", "price"), history_length=4, text_max_length=8)
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def _model_cfg(**kw) -> ml_collections.ConfigDict:
  cfg = dict(embed_dim=DIM, use_text=False, cf_user_embedding=True, history="mean", history_options={},
             cf_options=dict(mlp=(8,)), embedding_init_std=0.05,
             text=dict(pretrained="", pooling="mean", mode="full", trainable_layers=1, dtype="float32", cache_dir="",
                       cache_prefix=True, bert=dict(hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16)))
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def _construct(model_cfg, feature_cfg, label_offset: float = 0.0, seed: int = 0) -> TwoTowerModel:
  """The registered model built abstractly: the config checks run, the initialisers do not (no compiling)."""
  return nnx.eval_shape(lambda: build("two_tower", model_cfg, feature_cfg, VOCAB, label_offset=label_offset,
                                     rngs=nnx.Rngs(seed)))


def _build(model_cfg=None, feature_cfg=None, label_offset: float = 0.0, seed: int = 0) -> TwoTowerModel:
  """The registered model with every parameter random (MLP biases start at zero)."""
  model = _construct(model_cfg or _model_cfg(), feature_cfg or _features(), label_offset, seed)
  return randomize_params(model, seed, 0.5)


def _batch(seed: int = 0):
  rng = np.random.default_rng(seed)
  age, category = rng.integers(0, 5, N), rng.integers(0, 7, N)
  price, user, item = rng.normal(size=N).astype(np.float32), rng.integers(2, 11, N), rng.integers(2, 13, N)
  return make_batch(categorical={"age": age, "category": category}, numeric={"price": price}, user_id=user,
                    item_id=item, history=HISTORY.copy(),
                    text=token_block(rng.integers(1, 50, (SLOTS, 8)), slot=np.array([0, 1, 2, 0, 1])),
                    label=np.zeros(N, np.float32))


SHIFTED = {  # A different value in every row, still in range (ids 0 and 1 are PAD and OOV).
    ("user_id",): lambda x: 2 + (x - 1) % 9, ("item_id",): lambda x: 2 + (x - 1) % 11,
    ("categorical", "age"): lambda x: (x + 1) % 5, ("categorical", "category"): lambda x: (x + 1) % 7,
    ("numeric", "price"): lambda x: x + 1.0, ("text", "ids"): lambda x: 1 + x % 49,
    ("history",): lambda x: np.array([[2, 0, 0, 0], [0, 0, 0, 0], [5, 6, 7, 8], [4, 3, 0, 0], [11, 12, 10, 0]])}


def _shift(batch, path):
  """batch with every row of the field at `path` changed."""
  fn = SHIFTED[path]
  if path[0] in ("categorical", "numeric"):
    group = getattr(batch, path[0])
    return batch.replace(**{path[0]: {**group, path[1]: fn(group[path[1]])}})
  if path[0] == "text":
    texts = batch.text.texts
    return batch.replace(text=TextBlock(texts.replace(ids=fn(texts.ids)), batch.text.slot))
  return batch.replace(**{path[0]: fn(getattr(batch, path[0]))})


def _changed(batch, paths):
  for path in paths:
    batch = _shift(batch, path)
  return batch


def _tower(tower, parts) -> np.ndarray:
  """MLP (ReLU after every layer) then the linear output over the flattened parts, L2-normalised if asked."""
  x = np.concatenate(parts, axis=-1)
  for layer in tower.mlp.layers:
    x = np.maximum(x @ _p(layer.kernel) + _p(layer.bias), 0.0)
  x = x @ _p(tower.out.kernel) + _p(tower.out.bias)
  return x / np.linalg.norm(x, axis=-1, keepdims=True) if tower.normalize else x


def _numpy_query(model: TwoTowerModel, batch) -> np.ndarray:
  """[age embedding, user id embedding, mean of the real history items' embeddings]."""
  items, hist = _p(model.items.embedding), batch.history
  real = (hist != 0)[..., None]
  mean = np.sum(items[hist] * real, axis=1) / np.maximum(real.sum(axis=1), 1)
  return _tower(model.user_tower, [_p(model.user_fields.tables["age"].embedding)[batch.categorical["age"]],
                                   _p(model.users.embedding)[batch.user_id], mean])


def _numpy_candidate(model: TwoTowerModel, batch, text=None) -> np.ndarray:
  """[category embedding, price * its vector, item id embedding(, the text vector of the row's slot)]."""
  fields = model.item_fields
  parts = [_p(fields.tables["category"].embedding)[batch.categorical["category"]],
           batch.numeric["price"][:, None] * _p(fields.numeric_vectors)[0], _p(model.items.embedding)[batch.item_id]]
  if text is not None:
    parts.append(np.asarray(text, np.float64)[batch.text.slot])
  return _tower(model.item_tower, parts)


@pytest.mark.parametrize("normalize", [True, False])
def test_towers_match_numpy_and_score_is_offset_plus_dot_product(normalize):
  model = _build(_model_cfg(cf_options=dict(mlp=(8,), normalize=normalize)), label_offset=0.75)
  batch = _batch()
  query, candidate = np.asarray(model.query_vectors(batch)), np.asarray(model.candidate_vectors(batch))
  assert query.shape == candidate.shape == (N, DIM)
  np.testing.assert_allclose(query, _numpy_query(model, batch), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(candidate, _numpy_candidate(model, batch), rtol=1e-5, atol=1e-5)
  norms = np.linalg.norm(np.concatenate([query, candidate]), axis=-1)
  if normalize:
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
  else:
    assert np.all(np.abs(norms - 1.0) > 1e-2)
  np.testing.assert_allclose(np.asarray(model(batch)), 0.75 + np.sum(query * candidate, axis=-1), rtol=1e-5, atol=1e-5)


def test_normalize_is_the_default_and_tower_widths_follow_the_config():
  model = _construct(_model_cfg(cf_options={}), _features())
  assert model.user_tower.normalize and model.item_tower.normalize
  # User: age + user id + history; item: category + price + item id; hidden (64,) by default.
  assert [layer.kernel.shape for layer in model.user_tower.mlp.layers] == [(3 * DIM, 64)]
  assert [layer.kernel.shape for layer in model.item_tower.mlp.layers] == [(3 * DIM, 64)]
  assert model.user_tower.out.kernel.shape == model.item_tower.out.kernel.shape == (64, DIM)
  lean = _construct(_model_cfg(cf_user_embedding=False, history="none"), _features(item_features=("price",)))
  assert lean.users is None and lean.history is None
  assert lean.user_tower.mlp.layers[0].kernel.shape == (DIM, 8)  # age
  assert lean.item_tower.mlp.layers[0].kernel.shape == (2 * DIM, 8)  # price + item id


@pytest.fixture(scope="module")
def text_model() -> TwoTowerModel:
  """One random-init tiny-BERT two-tower model for every text test (compiling BERT is the slow part)."""
  return _build(_model_cfg(use_text=True), seed=2)


def test_text_vector_of_the_rows_slot_is_an_item_tower_input(text_model):
  batch = _batch()
  text = text_model.text.encode(batch.text.texts)
  assert text.shape == (SLOTS, DIM)
  np.testing.assert_allclose(np.asarray(text_model.candidate_vectors(batch)), _numpy_candidate(text_model, batch, text),
                             rtol=1e-5, atol=1e-5)


def test_each_tower_reads_only_its_own_side(text_model):
  batch = _batch()
  query, candidate = np.asarray(text_model.query_vectors(batch)), np.asarray(text_model.candidate_vectors(batch))
  for key in ITEM_SIDE:
    changed = _changed(batch, [key])
    np.testing.assert_array_equal(np.asarray(text_model.query_vectors(changed)), query, err_msg=str(key))
    assert np.all(np.abs(np.asarray(text_model.candidate_vectors(changed)) - candidate).max(axis=1) > 1e-6), key
  for key in USER_SIDE:
    changed = _changed(batch, [key])
    np.testing.assert_array_equal(np.asarray(text_model.candidate_vectors(changed)), candidate, err_msg=str(key))
    assert np.all(np.abs(np.asarray(text_model.query_vectors(changed)) - query).max(axis=1) > 1e-6), key
  np.testing.assert_array_equal(np.asarray(text_model.query_vectors(_changed(batch, ITEM_SIDE))), query)
  np.testing.assert_array_equal(np.asarray(text_model.candidate_vectors(_changed(batch, USER_SIDE))), candidate)


def test_changing_an_items_text_changes_only_the_rows_reading_it(text_model):
  batch = _batch()
  candidate = np.asarray(text_model.candidate_vectors(batch))
  ids = batch.text.texts.ids.copy()
  ids[2, :4] = [7, 8, 9, 10]  # Slot 2 is read by row 2 only.
  changed = batch.replace(text=TextBlock(batch.text.texts.replace(ids=ids), batch.text.slot))
  moved = np.abs(np.asarray(text_model.candidate_vectors(changed)) - candidate).max(axis=1)
  assert moved[2] > 1e-6
  np.testing.assert_array_equal(moved[[0, 1, 3, 4]], 0.0)


def test_side_features_must_be_declared_features():
  with pytest.raises(ValueError, match=r"features.user_features names \['income'\]"):
    _construct(_model_cfg(), _features(user_features=("age", "income")))
  with pytest.raises(ValueError, match=r"features.item_features names \['colour'\]"):
    _construct(_model_cfg(), _features(item_features=("colour", "price")))


def test_target_aware_history_and_an_empty_user_tower_are_refused():
  with pytest.raises(ValueError, match="model.history=din"):
    _construct(_model_cfg(history="din"), _features())
  with pytest.raises(ValueError, match="user tower reads nothing"):
    _construct(_model_cfg(cf_user_embedding=False, history="none"), _features(user_features=()))
  _construct(_model_cfg(cf_user_embedding=False, history="none"), _features())  # The age feature alone is enough.
  _construct(_model_cfg(cf_user_embedding=False), _features(user_features=()))  # So is the history alone.
