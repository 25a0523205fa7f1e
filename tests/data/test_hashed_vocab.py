"""Hashed vocabularies (features.hash_buckets): stable ids across processes, unseen values get an id, and a
processor with a hashed column saves and loads."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rec_jax.data.features import FeatureProcessor
from rec_jax.data.vocab import OOV, OOV_TOKEN, HashedVocabulary, Vocabulary, from_json, mix64
from tests.data.test_features import TEST, TRAIN, _cfg

# 2 + crc32(b"68fd1e64") % 1000 = 2 + 2704318627 % 1000 (zlib.crc32, the standard CRC-32).
EXPECTED = {"68fd1e64": 629, "05db9164": 438}


def test_ids_are_the_documented_hash():
  v = HashedVocabulary(1000)
  assert len(v) == 1002
  np.testing.assert_array_equal(v.lookup(np.array(list(EXPECTED))), list(EXPECTED.values()))
  ids = v.lookup(np.array([[str(k) for k in range(50)]] * 2, dtype=object))
  assert ids.shape == (2, 50) and ids.dtype == np.int32 and ((ids >= 2) & (ids < 1002)).all()
  # An object array hashes str(value); an integer column (Criteo's hex categories) its 64-bit mix, -1 too.
  assert v.lookup(np.array([7], dtype=object))[0] == v.lookup(np.array(["7"]))[0]
  assert v.lookup(np.array([7, -1])).tolist() == (2 + mix64(np.array([7, -1])) % np.uint64(1000)).tolist()


def test_ids_do_not_depend_on_the_process_hash_seed():
  # Python's hash() of a str changes with PYTHONHASHSEED; the vocabulary's ids must not.
  code = ("import numpy as np; from rec_jax.data.vocab import HashedVocabulary; "
          "print(HashedVocabulary(1000).lookup(np.array(['68fd1e64', '05db9164'])).tolist())")
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  for seed in ("1", "2"):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONHASHSEED": seed}).stdout
    assert json.loads(out) == list(EXPECTED.values())


def test_unseen_values_are_not_oov_but_empty_and_reserved_are():
  v = HashedVocabulary(10)
  values = np.array(["never", "seen", "in", "train", "", OOV_TOKEN], dtype=object)
  assert v.contains(values).tolist() == [True, True, True, True, False, False]
  assert v.lookup(values)[-2:].tolist() == [OOV, OOV]
  with pytest.raises(ValueError, match="buckets"):
    HashedVocabulary(0)


def test_json_round_trip_of_both_kinds():
  hashed = from_json(json.loads(json.dumps(HashedVocabulary(50).to_json())))
  assert isinstance(hashed, HashedVocabulary) and hashed.buckets == 50
  # Fitted vocabularies keep their format, a token list, so processors saved before hashing existed still load.
  fitted = Vocabulary.fit(["b", "a", "b"])
  assert fitted.to_json() == ["b", "a"] and from_json(["b", "a"]).tokens == ["b", "a"]


def _hashed_cfg():
  return _cfg(text=(), hash_buckets={"device": 50})


def test_processor_hashes_listed_columns_and_round_trips(tmp_path):
  proc = FeatureProcessor(_hashed_cfg()).fit(TRAIN)
  assert isinstance(proc.vocabs["device"], HashedVocabulary)
  assert isinstance(proc.vocabs["item_id"], Vocabulary)          # not listed: fitted as before
  assert proc.vocab_sizes()["device"] == 52
  rows = proc.transform(TEST).rows
  # "tablet" is not in train: a fitted vocabulary maps it to OOV, the hashed one to its bucket.
  assert rows.categorical["device"][0] == HashedVocabulary(50).lookup(np.array(["tablet"]))[0] != OOV
  path = str(tmp_path / "feature_processor.json")
  proc.save(path)
  with open(path) as f:
    saved = json.load(f)["vocabs"]
  assert saved["device"] == {"hash_buckets": 50} and saved["item_id"] == proc.vocabs["item_id"].tokens
  loaded = FeatureProcessor.load(path, _hashed_cfg())
  assert isinstance(loaded.vocabs["device"], HashedVocabulary)
  again = loaded.transform(TEST).rows
  for field in ("item_id", "user_id", "history"):
    np.testing.assert_array_equal(getattr(again, field), getattr(rows, field))
  np.testing.assert_array_equal(again.categorical["device"], rows.categorical["device"])


def test_hashed_item_ids_make_no_item_cold():
  cfg = _cfg(text=(), hash_buckets={"item_id": 100})
  rows = FeatureProcessor(cfg).fit(TRAIN).transform(TEST).rows
  assert not rows.item_is_cold.any() and (rows.item_id != OOV).all()


def test_history_length_zero_gives_no_history_columns():
  # configs/criteo_ctr.py turns histories off this way (one constant user: a history would be the whole log).
  proc = FeatureProcessor(_cfg(text=(), history_length=0)).fit(TRAIN)
  assert proc.transform(TRAIN).rows.history.shape == (4, 0)
