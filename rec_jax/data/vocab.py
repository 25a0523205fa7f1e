"""Vocabularies with reserved padding and out-of-vocabulary ids, fitted on the train split only, or hashed (a fixed
number of buckets, nothing fitted) for categorical columns with too many values to list (Criteo's).

Columns of strings get a `Vocabulary` (a dict); columns of integers (Criteo's categories, read as hexadecimal
numbers, formats/columns.py's `hex` kind) an `IntVocabulary`: sorted keys and a vectorised lookup, no Python object
per value, so tens of millions of rows are looked up at numpy speed. Both order ids the same way: by descending
train count, ties by value. A hashed vocabulary hashes strings by crc32 and integers by a 64-bit mix.
"""

from __future__ import annotations

import collections
import zlib
from typing import Dict, Iterable, List, Union

import numpy as np

from rec_jax.batch import OOV, PAD  # noqa: F401  (the ids a vocabulary reserves)
from rec_jax.errors import UserError

OOV_TOKEN = "<oov>"   # a raw value that always maps to OOV (data/formats/side_tables.py's `oov` policy)
_RESERVED = ["<pad>", OOV_TOKEN]


class Vocabulary:
  """token -> id; id 0 is padding, id 1 is every token not seen in training (cold items, new users, typos)."""

  def __init__(self, tokens: List[str]):
    self.tokens = list(tokens)
    self._index: Dict[str, int] = {t: i + len(_RESERVED) for i, t in enumerate(self.tokens)}

  @classmethod
  def fit(cls, values: Iterable, min_count: int = 1) -> "Vocabulary":
    counts = collections.Counter(str(v) for v in values)
    for token in _RESERVED:
      counts.pop(token, None)
    # Sorted by count then token, so the same data always gives the same ids.
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return cls(kept)

  def __len__(self) -> int:
    return len(self.tokens) + len(_RESERVED)

  def lookup(self, values: np.ndarray) -> np.ndarray:
    """Ids of `values` (any shape of strings/ints); unknown values map to OOV."""
    flat = [self._index.get(str(v), OOV) for v in np.ravel(values)]
    return np.asarray(flat, dtype=np.int32).reshape(np.shape(values))

  def contains(self, values: np.ndarray) -> np.ndarray:
    return self.lookup(values) != OOV

  def to_json(self) -> List[str]:
    return self.tokens

  @classmethod
  def from_counts(cls, tokens: np.ndarray, counts: np.ndarray, min_count: int = 1) -> "Vocabulary":
    """The vocabulary `fit` gives for values with these distinct `tokens` (strings) and their `counts`."""
    merged = collections.Counter()
    for token, count in zip(tokens, counts):
      merged[str(token)] += int(count)
    for token in _RESERVED:
      merged.pop(token, None)
    return cls(sorted((t for t, c in merged.items() if c >= min_count), key=lambda t: (-merged[t], t)))


class IntVocabulary:
  """int -> id for integer-valued columns: id 0 padding, 1 OOV, then the train values by descending count (ties by
  value). `tokens` [n] int64 in id order; lookups go through the sorted values (`np.searchsorted`)."""

  def __init__(self, tokens):
    self.tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    order = np.argsort(self.tokens, kind="stable")
    self._sorted = self.tokens[order]
    self._ids = (order + len(_RESERVED)).astype(np.int32)
    if len(self._sorted) > 1 and (self._sorted[1:] == self._sorted[:-1]).any():
      raise UserError("an integer vocabulary lists a value twice (a damaged feature_processor.json?)")

  @classmethod
  def from_counts(cls, values: np.ndarray, counts: np.ndarray, min_count: int = 1) -> "IntVocabulary":
    """From distinct `values` and their train `counts`: the values seen at least `min_count` times."""
    values, counts = np.asarray(values, np.int64), np.asarray(counts, np.int64)
    keep = counts >= min_count
    values, counts = values[keep], counts[keep]
    return cls(values[np.lexsort((values, -counts))])

  @classmethod
  def fit(cls, values: np.ndarray, min_count: int = 1) -> "IntVocabulary":
    distinct, counts = np.unique(np.asarray(values, np.int64), return_counts=True)
    return cls.from_counts(distinct, counts, min_count)

  def __len__(self) -> int:
    return len(self.tokens) + len(_RESERVED)

  def lookup(self, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
      raise UserError(f"an integer vocabulary looked up with {values.dtype} values: the column changed type since "
                      "the vocabulary was fitted")
    flat = values.reshape(-1).astype(np.int64)
    if not len(self._sorted):
      return np.full(values.shape, OOV, np.int32)
    at = np.minimum(np.searchsorted(self._sorted, flat), len(self._sorted) - 1)
    return np.where(self._sorted[at] == flat, self._ids[at], OOV).astype(np.int32).reshape(values.shape)

  def contains(self, values: np.ndarray) -> np.ndarray:
    return self.lookup(values) != OOV

  def to_json(self) -> dict:
    return {"int_tokens": self.tokens.tolist()}


def mix64(values: np.ndarray) -> np.ndarray:
  """A 64-bit integer hash (splitmix64's finaliser) of int64 values, as uint64: neighbouring values spread over the
  whole range, so `mix64(v) % buckets` is a fair bucket for ids that are themselves counts or small numbers."""
  x = np.asarray(values).astype(np.int64).view(np.uint64)
  with np.errstate(over="ignore"):
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class HashedVocabulary:
  """token -> 2 + crc32(token) % buckets: every value gets an id without a fitted list (colliding values share one),
  so values unseen in training are not OOV. crc32 of the UTF-8 bytes, not Python's hash(), which is salted per
  process: ids must be the same when a saved processor is loaded in another run."""

  def __init__(self, buckets: int):
    if int(buckets) < 1:
      raise UserError(f"hash buckets must be >= 1, got {buckets!r}")
    self.buckets = int(buckets)

  def __len__(self) -> int:
    return self.buckets + len(_RESERVED)

  def _id(self, token: str) -> int:
    # Empty and reserved values stay OOV, as in a fitted vocabulary (side_tables.py's `oov` policy relies on it).
    if token == "" or token in _RESERVED:
      return OOV
    return len(_RESERVED) + zlib.crc32(token.encode("utf-8")) % self.buckets

  def lookup(self, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":   # integer columns: every value (also -1, the missing `hex` one) gets a bucket
      return (len(_RESERVED) + mix64(values) % np.uint64(self.buckets)).astype(np.int32)
    flat = [self._id(str(v)) for v in np.ravel(values)]
    return np.asarray(flat, dtype=np.int32).reshape(np.shape(values))

  def contains(self, values: np.ndarray) -> np.ndarray:
    return self.lookup(values) != OOV

  def to_json(self) -> dict:
    return {"hash_buckets": self.buckets}


def from_json(state: Union[List[str], dict]):
  """The vocabulary saved by `to_json`: a token list (fitted on strings), {"int_tokens": [...]} (fitted on
  integers) or {"hash_buckets": n} (hashed)."""
  if isinstance(state, dict):
    return IntVocabulary(state["int_tokens"]) if "int_tokens" in state else HashedVocabulary(state["hash_buckets"])
  return Vocabulary(state)
