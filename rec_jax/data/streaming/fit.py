"""Fitting what preparation fits on the train split, block by block (`StreamingFit`): governance's train medians
(data/governance.py's `fit_fills`) and the feature processor (data/features.py's `FeatureProcessor.fit`): the
vocabularies from exact value counts, the numeric standardisation from running sums, the label mean.

Governance drops a row for what the row holds, never for a fitted fill, so the train rows it keeps (and what they
hold apart from imputed numbers) are known in the same pass that counts the medians: imputed numbers are left NaN
in that pass and their (transformed) median is added to the numeric sums once the medians are known. The result
equals the in-memory fit's: the same vocabularies and fills; numeric statistics up to float64 rounding.
"""

from __future__ import annotations

import math
from typing import Dict

import numpy as np

from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.governance import Schema, is_invalid
from rec_jax.data.streaming.value_counts import ValueCounts
from rec_jax.data.vocab import HashedVocabulary, IntVocabulary, Vocabulary
from rec_jax.errors import UserError

Columns = Dict[str, np.ndarray]


def placeholder_fills(schema: Schema) -> Dict[str, Dict[str, float]]:
  """Fills for the first pass: every imputed number stays NaN (recognisable), nothing is clipped."""
  return {rule.name: {"median": math.nan} for rule in schema.rules if rule.kind == "number"}


class StreamingFit:
  """Train-split statistics added block by block: `add_raw` with the raw train rows (the medians are fitted
  before governance, as `fit_fills` does), `add_clean` with the same rows governed with `placeholder_fills`."""

  def __init__(self, features: FeatureOptions, schema: Schema):
    for rule in schema.rules:
      if rule.clip_quantile is not None:
        raise UserError(f"data.streaming: the governance rule of {rule.name!r} clips at a train quantile, which "
                        "streaming preparation does not fit; use data.streaming=False")
    if schema.dedup_key is not None:
      raise UserError(f"data.streaming: governance drops duplicates of {schema.dedup_key!r} across the whole split, "
                      "which streaming preparation does not do; use data.streaming=False")
    self.features, self.schema = features, schema
    self.numbers = [rule for rule in schema.rules if rule.kind == "number"]
    self.medians = {rule.name: ValueCounts() for rule in self.numbers}
    columns = {"user_id": features.user_id, "item_id": features.item_id,
               **{name: name for name in features.categorical}}
    self.vocab_columns = {key: column for key, column in columns.items()
                          if not features.hash_buckets.get(column)}
    self.hashed = {key: features.hash_buckets[column] for key, column in columns.items()
                   if features.hash_buckets.get(column)}
    self.counts = {key: ValueCounts() for key in self.vocab_columns}
    self.sums = {name: np.zeros(4) for name in features.numeric}   # finite rows, sum, sum of squares, imputed rows
    self.dtypes = {name: np.dtype(np.float64) for name in features.numeric}
    self.label_sum, self.rows = 0.0, 0

  def add_raw(self, train: Columns) -> None:
    for rule in self.numbers:
      x = train[rule.name].astype(np.float64)
      ok = np.isfinite(x) & ~is_invalid(rule, x, ~np.isfinite(x))
      self.medians[rule.name].add(x[ok])

  def add_clean(self, train: Columns) -> None:
    for key, column in self.vocab_columns.items():
      values = train[column]
      self.counts[key].add(values if values.dtype.kind in "iu" else values.astype(str))
    for name, sums in self.sums.items():
      self.dtypes[name] = train[name].dtype   # the fill is stored in it (a float32 column rounds the median)
      x = train[name].astype(np.float64)
      finite = np.isfinite(x)
      f = self._transform(x[finite])
      sums += [finite.sum(), f.sum(), (f * f).sum(), (~finite).sum()]
    self.label_sum += float(train[self.features.label].astype(np.float64).sum())
    self.rows += len(train[self.features.label])

  def _transform(self, x: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(x, 0)) if self.features.numeric_transform == "log1p" else x

  def fills(self) -> Dict[str, Dict[str, float]]:
    """What `fit_fills` gives for the train split added."""
    out = {}
    for rule in self.numbers:
      if not self.medians[rule.name].total():
        out[rule.name] = {"median": 0.0, "no_valid_train_value": True}
      else:
        out[rule.name] = {"median": self.medians[rule.name].median()}
    return out

  def processor(self) -> FeatureProcessor:
    """The processor `FeatureProcessor.fit` gives for the governed train split."""
    if self.features.text or self.features.query:
      raise UserError("data.streaming prepares tabular features only: set features.text=() and features.query=''")
    if not self.rows:
      raise UserError("data.streaming: the train split has no rows after governance (see data_report.json)")
    fills, min_count = self.fills(), self.features.min_count
    vocabs = {key: HashedVocabulary(buckets) for key, buckets in self.hashed.items()}
    for key, counts in self.counts.items():
      values, count = counts.result()
      fitted = IntVocabulary if values.dtype.kind in "iu" else Vocabulary
      vocabs[key] = fitted.from_counts(values, count, min_count)
    stats = {}
    for name, (finite, total, squares, imputed) in self.sums.items():
      if imputed:
        stored = np.asarray(fills[name]["median"]).astype(self.dtypes[name])
        fill = float(self._transform(stored.astype(np.float64)))
        total, squares = total + imputed * fill, squares + imputed * fill * fill
      n = finite + imputed
      mean = total / n
      stats[name] = [float(mean), float(math.sqrt(max(squares / n - mean * mean, 0.0)) + 1e-6)]
    return FeatureProcessor(self.features, vocabs, stats, "", self.label_sum / self.rows)
