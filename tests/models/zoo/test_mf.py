"""Tests that biased MF scores offset + mu + b_u + b_i + <p_u, q_i> and NeuMF fuses GMF (p_u * q_i) with an MLP over
[p_u; q_i], both checked in numpy against the modules' own (randomised) parameters."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.models.zoo.mf import BiasedMF
from rec_jax.models.zoo.neumf import NeuMF
from tests.batches import make_batch
from tests.models.building import model as build

from tests.models.numpy_reference import param as _p, randomize_params

VOCAB = {"user_id": 7, "item_id": 9}
BATCH = make_batch(user_id=np.array([0, 1, 3, 6, 6, 2]), item_id=np.array([8, 2, 2, 0, 5, 7]))


def _model_cfg(**kw) -> ml_collections.ConfigDict:
  cfg = dict(embed_dim=4, cf_dim=0, cf_options=dict(mlp=(8, 4)), embedding_init_std=0.05)
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def _build(name: str, model_cfg=None, label_offset: float = 0.0, seed: int = 0):
  """The registered model with every parameter random (biases included: they start at zero); built abstractly and
  then filled, which skips compiling the initialisers."""
  model = nnx.eval_shape(lambda: build(name, model_cfg or _model_cfg(), ml_collections.ConfigDict(), VOCAB,
                                                  label_offset=label_offset, rngs=nnx.Rngs(seed)))
  return randomize_params(model, seed, 0.7)


def _mf_scores(model: BiasedMF, users: np.ndarray, items: np.ndarray, label_offset: float) -> np.ndarray:
  p, q = _p(model.users.embedding), _p(model.items.embedding)
  b_u, b_i = _p(model.user_bias.embedding)[:, 0], _p(model.item_bias.embedding)[:, 0]
  out = np.empty(len(users))
  for n, (u, i) in enumerate(zip(users, items)):
    out[n] = label_offset + float(_p(model.global_bias)) + b_u[u] + b_i[i] + float(np.dot(p[u], q[i]))
  return out


@pytest.mark.parametrize("label_offset", [0.0, 3.5])
def test_mf_score_is_offset_plus_biases_plus_dot_product(label_offset):
  model = _build("mf", label_offset=label_offset)
  assert isinstance(model, BiasedMF)
  assert float(_p(model.global_bias)) != 0.0 and np.all(_p(model.user_bias.embedding) != 0)
  scores = np.asarray(model(BATCH))
  assert scores.shape == (6,)
  np.testing.assert_allclose(scores, _mf_scores(model, BATCH.user_id, BATCH.item_id, label_offset),
                             rtol=1e-5, atol=1e-5)


def test_mf_biases_start_at_zero_and_cf_dim_sets_the_width():
  fresh = build("mf", _model_cfg(), ml_collections.ConfigDict(), VOCAB, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(_p(fresh.user_bias.embedding), 0.0)
  np.testing.assert_array_equal(_p(fresh.item_bias.embedding), 0.0)
  assert float(_p(fresh.global_bias)) == 0.0 and fresh.label_offset == 0.0
  assert fresh.users.embedding[...].shape == (7, 4) and fresh.items.embedding[...].shape == (9, 4)
  std = float(np.std(_p(fresh.users.embedding)))
  assert 0.01 < std < 0.15  # embedding_init_std=0.05
  wide = nnx.eval_shape(lambda: build("mf", _model_cfg(cf_dim=6), ml_collections.ConfigDict(), VOCAB,
                                                  rngs=nnx.Rngs(0)))
  assert wide.users.embedding.shape == (7, 6) and wide.items.embedding.shape == (9, 6)


def _neumf_scores(model: NeuMF, users: np.ndarray, items: np.ndarray, label_offset: float) -> np.ndarray:
  """fuse([gmf_u * gmf_i, MLP([mlp_u, mlp_i])]) with ReLU after every MLP layer (MLP's activate_last default)."""
  gmf = _p(model.gmf_users.embedding)[users] * _p(model.gmf_items.embedding)[items]
  x = np.concatenate([_p(model.mlp_users.embedding)[users], _p(model.mlp_items.embedding)[items]], axis=-1)
  for layer in model.mlp.layers:
    x = x @ _p(layer.kernel) + _p(layer.bias)
    assert np.any(x < 0) and np.any(x > 0)  # The ReLU is exercised.
    x = np.maximum(x, 0.0)
  fused = np.concatenate([gmf, x], axis=-1)
  return label_offset + fused @ _p(model.fuse.kernel)[:, 0] + _p(model.fuse.bias)[0]


@pytest.mark.parametrize("label_offset, overrides, seed", [
    (0.0, {}, 3), (-1.25, dict(cf_dim=3, cf_options=dict(mlp=(10, 6, 2))), 4)])
def test_neumf_score_fuses_gmf_and_mlp(label_offset, overrides, seed):
  model = _build("neumf", _model_cfg(**overrides), label_offset=label_offset, seed=seed)
  assert isinstance(model, NeuMF)
  scores = np.asarray(model(BATCH))
  assert scores.shape == (6,)
  np.testing.assert_allclose(scores, _neumf_scores(model, BATCH.user_id, BATCH.item_id, label_offset),
                             rtol=1e-5, atol=1e-5)


def _shapes(model_cfg):
  """The NeuMF built abstractly (no parameter computed): its embedding, MLP and fuse shapes."""
  model = nnx.eval_shape(lambda: build("neumf", model_cfg, ml_collections.ConfigDict(), VOCAB, rngs=nnx.Rngs(0)))
  return dict(gmf=(model.gmf_users.embedding.shape, model.gmf_items.embedding.shape),
              mlp=(model.mlp_users.embedding.shape, model.mlp_items.embedding.shape),
              layers=[layer.kernel.shape for layer in model.mlp.layers], fuse=model.fuse.kernel.shape)


def test_neumf_widths_follow_the_tower_and_cf_dim():
  # The MLP embeddings are half the first layer wide; GMF is cf_dim wide (0 = embed_dim); fuse reads both outputs.
  assert _shapes(_model_cfg(cf_dim=3, cf_options=dict(mlp=(10, 6, 2)))) == dict(
      gmf=((7, 3), (9, 3)), mlp=((7, 5), (9, 5)), layers=[(10, 6), (6, 2)], fuse=(3 + 2, 1))
  assert _shapes(_model_cfg(cf_options=dict(mlp=(8,)))) == dict(
      gmf=((7, 4), (9, 4)), mlp=((7, 4), (9, 4)), layers=[], fuse=(4 + 8, 1))
  assert _shapes(_model_cfg(cf_options={})) == dict(  # The paper's pyramid by default.
      gmf=((7, 4), (9, 4)), mlp=((7, 32), (9, 32)), layers=[(64, 32), (32, 16)], fuse=(4 + 16, 1))


@pytest.mark.parametrize("tower", [(7, 4), (5,), ()])
def test_neumf_rejects_an_odd_or_empty_first_layer(tower):
  with pytest.raises(ValueError, match="model.cf_options.mlp"):
    build("neumf", _model_cfg(cf_options=dict(mlp=tower)), ml_collections.ConfigDict(), VOCAB, rngs=nnx.Rngs(0))


SIDE_VOCAB = {**VOCAB, "age": 4, "genre": 5}
SIDE_FEATURES = dict(categorical=("age", "genre"), user_features=("age",), item_features=("genre",))
SIDE_BATCH = make_batch(user_id=np.array([0, 1, 3, 6]), item_id=np.array([8, 2, 2, 0]),
                        categorical={"age": np.array([1, 3, 0, 2]), "genre": np.array([4, 4, 1, 0])},
                        history=np.array([[3, 5, 0], [0, 0, 0], [8, 0, 0], [1, 2, 7]]))   # 0 = PAD


def _svdpp_scores(model: BiasedMF, batch, label_offset: float, implicit: bool) -> np.ndarray:
  """mu + b_u + b_i + b_age + b_genre + <p_u + a_age + |N(u)|^-1/2 sum y_j, q_i + c_genre>, row by row."""
  p, q = _p(model.users.embedding), _p(model.items.embedding)
  a, c = _p(model.feature_factors["age"].embedding), _p(model.feature_factors["genre"].embedding)
  b_age, b_genre = _p(model.feature_bias["age"].embedding)[:, 0], _p(model.feature_bias["genre"].embedding)[:, 0]
  out = np.empty(len(batch.user_id))
  for n, (u, i, age, genre) in enumerate(zip(batch.user_id, batch.item_id, batch.categorical["age"],
                                             batch.categorical["genre"])):
    user, item = p[u] + a[age], q[i] + c[genre]
    real = [j for j in batch.history[n] if j != 0]
    if implicit and real:
      user = user + sum(_p(model.implicit.embedding)[j] for j in real) / np.sqrt(len(real))
    out[n] = (label_offset + float(_p(model.global_bias)) + _p(model.user_bias.embedding)[u, 0]
              + _p(model.item_bias.embedding)[i, 0] + b_age[age] + b_genre[genre] + float(np.dot(user, item)))
  return out


@pytest.mark.parametrize("implicit", [False, True])
def test_mf_side_features_and_implicit_feedback_follow_svdfeature_and_svdpp(implicit):
  cfg = _model_cfg(cf_options=dict(side_features=True, implicit=implicit))
  model = nnx.eval_shape(lambda: build("mf", cfg, ml_collections.ConfigDict(SIDE_FEATURES), SIDE_VOCAB,
                                       label_offset=3.0, rngs=nnx.Rngs(0)))
  model = randomize_params(model, 5, 0.7)
  assert (model.implicit is not None) == implicit
  np.testing.assert_allclose(np.asarray(model(SIDE_BATCH)), _svdpp_scores(model, SIDE_BATCH, 3.0, implicit),
                             rtol=1e-5, atol=1e-5)


def test_mf_side_features_without_any_side_feature_is_a_named_error():
  with pytest.raises(ValueError, match="side_features"):
    build("mf", _model_cfg(cf_options=dict(side_features=True)), ml_collections.ConfigDict(), VOCAB,
          rngs=nnx.Rngs(0))
