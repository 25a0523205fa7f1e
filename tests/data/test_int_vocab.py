"""IntVocabulary: the ids Vocabulary gives the same values written as fixed-width hex strings (by count, ties by
value), looked up vectorised; hashing integer columns: in range, stable across processes, spread over buckets."""

import numpy as np
import pytest

from rec_jax.batch import OOV
from rec_jax.data.vocab import HashedVocabulary, IntVocabulary, Vocabulary, from_json, mix64
from rec_jax.errors import UserError


def test_ids_as_a_string_vocabulary_of_the_same_values():
  values = np.random.default_rng(0).zipf(1.3, 20000).astype(np.int64) % 5000 - 1   # -1: the missing `hex` value
  for min_count in (1, 3):
    ints = IntVocabulary.fit(values, min_count)
    strings = Vocabulary.fit(np.array([format(v, "08x") if v >= 0 else "" for v in values]), min_count)
    assert [format(v, "08x") if v >= 0 else "" for v in ints.tokens] == strings.tokens
    probe = np.array([-1, 0, 7, 4999, 123456, -5])
    np.testing.assert_array_equal(ints.lookup(probe),
                                  strings.lookup([format(v, "08x") if v >= 0 else "" for v in probe]))
    assert len(ints) == len(strings)


def test_lookup_shapes_json_and_refusals():
  vocab = IntVocabulary.fit(np.array([5, 5, 9, 2]))
  assert vocab.lookup(np.array([[5, 9], [2, 3]])).tolist() == [[2, 4], [3, OOV]]   # 5 (twice), then 2 < 9
  assert vocab.contains(np.array([9, 10])).tolist() == [True, False]
  again = from_json(vocab.to_json())
  assert isinstance(again, IntVocabulary) and again.tokens.tolist() == vocab.tokens.tolist()
  assert IntVocabulary([]).lookup(np.array([1, 2])).tolist() == [OOV, OOV]
  with pytest.raises(UserError, match="changed type"):
    vocab.lookup(np.array(["5"]))
  with pytest.raises(UserError, match="twice"):
    IntVocabulary([3, 3])


def test_hashed_integers():
  vocab = HashedVocabulary(1000)
  values = np.arange(-1, 200_000, dtype=np.int64)
  ids = vocab.lookup(values)
  assert ids.dtype == np.int32 and ids.min() >= 2 and ids.max() < len(vocab)
  # Fixed values: a saved processor hashes the same in every process and version.
  assert vocab.lookup(np.array([0, 1, 0x68fd1e64])).tolist() == [int(2 + mix64(np.array([v]))[0] % 1000)
                                                                   for v in (0, 1, 0x68fd1e64)]
  for v in (1, -1, 0x68fd1e64, 2**40 + 3):   # against a pure-Python splitmix64 finaliser
    x = v % 2**64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
    assert int(mix64(np.array([v]))[0]) == x ^ (x >> 31)
  counts = np.bincount(ids - 2, minlength=1000)
  assert counts.min() > 120 and counts.max() < 290   # ~200 per bucket: consecutive ids spread evenly
