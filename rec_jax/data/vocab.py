"""Vocabularies with reserved padding and out-of-vocabulary ids, fitted on the train split only."""

from __future__ import annotations

import collections
from typing import Dict, Iterable, List

import numpy as np

PAD, OOV = 0, 1
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
