"""Raw request values -> the exported functions' inputs, with the run's own fitted feature processor: vocabulary
ids (unknown values are OOV, as in training), standardised numerics, tokenised texts. A value that cannot be read
raises `RequestError` naming its field, which the HTTP layer answers with a 4xx."""

from __future__ import annotations

import numbers
from typing import Any, Dict, List, Sequence

import numpy as np

from rec_jax.batch import PAD
from rec_jax.data.vocab import IntVocabulary


class RequestError(ValueError):
  """A bad request: `field` names the offending field (a JSON path such as `rows[3].context.hour`)."""

  def __init__(self, field: str, message: str, status: int = 422):
    super().__init__(f"{field}: {message}")
    self.field, self.message, self.status = field, message, status


class RequestFeatures:
  """Encodes request values with a bundle's processor (serving/bundle.py)."""

  def __init__(self, processor):
    self.processor = processor
    self.cfg = processor.cfg

  def ids(self, vocab: str, values: Sequence[Any], where: Sequence[str]) -> np.ndarray:
    """Vocabulary ids of raw values (OOV for unseen ones)."""
    vocabulary = self.processor.vocabs[vocab]
    if isinstance(vocabulary, IntVocabulary):
      if all(type(v) is int for v in values):   # the usual case, at once; else each value is checked and named
        return vocabulary.lookup(np.asarray(values, np.int64))
      ints = []
      for value, field in zip(values, where):
        if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
          raise RequestError(field, f"expected an integer, got {value!r}")
        try:
          ints.append(int(value))
        except ValueError:
          raise RequestError(field, f"expected an integer, got {value!r}") from None
      return vocabulary.lookup(np.asarray(ints, np.int64))
    for value, field in zip(values, where):
      if value is None or isinstance(value, (dict, list)) or (isinstance(value, float) and not np.isfinite(value)):
        raise RequestError(field, f"expected a string or number, got {value!r}")
    return vocabulary.lookup(np.asarray([str(v) for v in values], dtype=object))

  def numeric(self, name: str, values: Sequence[Any], where: Sequence[str]) -> np.ndarray:
    """Standardised as in training (numeric_transform, then the train mean and standard deviation)."""
    out = []
    for value, field in zip(values, where):
      if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise RequestError(field, f"expected a finite number, got {value!r}")
      out.append(float(value))
    mean, std = self.processor.numeric_stats[name]
    x = np.asarray(out, np.float64)
    x = np.log1p(np.maximum(x, 0)) if self.cfg.numeric_transform == "log1p" else x
    out = ((x - mean) / std).astype(np.float32)
    if not np.all(np.isfinite(out)):   # beyond float32 once standardised: the model would score inf or NaN
      r = int(np.flatnonzero(~np.isfinite(out))[0])
      raise RequestError(where[r], f"{values[r]!r} is out of the range the model reads (train mean {mean:.4g}, "
                         f"std {std:.4g} after {self.cfg.numeric_transform or 'no'} transform)")
    return out

  def history(self, histories: Sequence[Any], where: Sequence[str]) -> np.ndarray:
    """[rows, history_length] item ids, oldest first, PAD after the last (the latest `history_length` kept)."""
    length = self.cfg.history_length
    out = np.full((len(histories), length), PAD, np.int32)
    for r, (seq, field) in enumerate(zip(histories, where)):
      if not isinstance(seq, list):
        raise RequestError(field, f"expected a list of item ids, got {type(seq).__name__}")
      recent = seq[-length:] if length else []
      if recent:
        out[r, :len(recent)] = self.ids("item_id", recent, [f"{field}[{i}]" for i in range(len(recent))])
    return out

  def item_texts(self, items: List[Dict[str, Any]], where: Sequence[str]) -> Dict[str, np.ndarray]:
    """`text.ids/mask/types` of items given as {column: value} (the features' one or two text columns)."""
    columns = list(self.cfg.text)
    first = [self._text(item, columns[0], field) for item, field in zip(items, where)]
    second = [self._text(item, columns[1], field) for item, field in zip(items, where)] if len(columns) > 1 \
        else [""] * len(items)
    ids, mask, types = self.processor.tokenizer.encode_pairs(first, second, self.cfg.text_max_length)
    return {"text.ids": ids, "text.mask": mask, "text.types": types}

  def queries(self, queries: Sequence[Any], where: Sequence[str]) -> Dict[str, np.ndarray]:
    for value, field in zip(queries, where):
      if not isinstance(value, str):
        raise RequestError(field, f"expected a query string, got {value!r}")
    ids, mask, types = self.processor.tokenizer.encode(list(queries), self.cfg.query_max_length)
    return {"query.ids": ids, "query.mask": mask, "query.types": types}

  @staticmethod
  def _text(item: Dict[str, Any], column: str, field: str) -> str:
    value = item.get(column, "")
    if value is None:
      return ""
    if not isinstance(value, str):
      raise RequestError(f"{field}.{column}", f"expected a string, got {value!r}")
    return value
