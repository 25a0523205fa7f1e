"""Vocabularies with reserved padding and out-of-vocabulary ids, fitted on the train split only, or hashed (a fixed
number of buckets, nothing fitted) for categorical columns with too many values to list (Criteo's)."""

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
    flat = [self._id(str(v)) for v in np.ravel(values)]
    return np.asarray(flat, dtype=np.int32).reshape(np.shape(values))

  def contains(self, values: np.ndarray) -> np.ndarray:
    return self.lookup(values) != OOV

  def to_json(self) -> dict:
    return {"hash_buckets": self.buckets}


def from_json(state: Union[List[str], dict]):
  """The vocabulary saved by `to_json`: a token list (fitted) or {"hash_buckets": n} (hashed)."""
  return HashedVocabulary(state["hash_buckets"]) if isinstance(state, dict) else Vocabulary(state)
