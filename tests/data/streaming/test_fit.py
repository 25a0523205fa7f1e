"""StreamingFit, block by block, equals what the in-memory path fits on the whole train split: governance's
medians (fit_fills) and the feature processor (vocabularies exactly, numeric statistics to float64 rounding)."""

import math

import numpy as np
import pytest

from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.governance import FieldRule, Schema, clean, fit_fills
from rec_jax.data.streaming.fit import StreamingFit, placeholder_fills
from rec_jax.data.vocab import HashedVocabulary, IntVocabulary
from rec_jax.errors import UserError

SCHEMA = Schema(rules=(FieldRule("user_id", "id"), FieldRule("label", "label", allowed=(0, 1)),
                       FieldRule("n1", "number", on_missing="impute"), FieldRule("n2", "number", on_missing="impute"),
                       FieldRule("c1", "hex", on_missing="impute", fill=-1)))
FEATURES = FeatureOptions(categorical=("c1", "c2"), numeric=("n1", "n2"), min_count=2, history_length=0,
                          hash_buckets={"c2": 50})


def _train(n=5000, seed=0):
  r = np.random.default_rng(seed)
  n1 = r.integers(0, 30, n).astype(np.float32)
  n1[r.random(n) < 0.2] = np.nan
  n2 = r.normal(0, 3, n).astype(np.float32)
  n2[r.random(n) < 0.05] = np.nan
  user = r.integers(0, 40, n).astype(str).astype(object)
  user[r.random(n) < 0.01] = ""   # dropped by governance: a missing id
  label = r.integers(0, 2, n)
  label[r.random(n) < 0.01] = 7   # dropped: an invalid label
  c1 = r.zipf(1.5, n).astype(np.int64) % 1000
  c1[r.random(n) < 0.1] = -1
  return {"user_id": user, "item_id": np.full(n, "0", object), "label": label, "n1": n1, "n2": n2, "c1": c1,
          "c2": r.integers(0, 10**6, n).astype(np.int64)}


def test_fit_block_by_block_equals_the_whole_split_fit():
  train = _train()
  fills = fit_fills(SCHEMA, train)
  governed, _ = clean(SCHEMA, train, fills)
  expected = FeatureProcessor(FEATURES).fit(governed)
  fitting = StreamingFit(FEATURES, SCHEMA)
  for index in np.array_split(np.arange(len(train["label"])), 7):
    block = {k: v[index] for k, v in train.items()}
    fitting.add_raw(block)
    fitting.add_clean(clean(SCHEMA, block, placeholder_fills(SCHEMA))[0])
  assert fitting.fills() == fills
  got = fitting.processor()
  assert isinstance(got.vocabs["c1"], IntVocabulary) and isinstance(got.vocabs["c2"], HashedVocabulary)
  for name, vocab in expected.vocabs.items():
    assert vocab.to_json() == got.vocabs[name].to_json(), name
  for name, (mean, std) in expected.numeric_stats.items():
    assert got.numeric_stats[name] == pytest.approx([mean, std], rel=1e-12)
  assert got.label_mean == pytest.approx(expected.label_mean, rel=1e-12)
  np.testing.assert_array_equal(got.transform({**governed, "history": governed["user_id"]}).rows.categorical["c1"],
                                expected.transform({**governed, "history": governed["user_id"]}).rows.categorical["c1"])


def test_a_number_without_valid_train_value_is_imputed_zero():
  train = _train(50)
  train["n1"][:] = np.nan
  fitting = StreamingFit(FEATURES, SCHEMA)
  fitting.add_raw(train)
  fitting.add_clean(clean(SCHEMA, train, placeholder_fills(SCHEMA))[0])
  assert fitting.fills()["n1"] == fit_fills(SCHEMA, train)["n1"] == {"median": 0.0, "no_valid_train_value": True}
  assert math.isfinite(fitting.processor().numeric_stats["n1"][0])


def test_what_it_cannot_fit_is_refused_by_name():
  with pytest.raises(UserError, match="quantile"):
    StreamingFit(FEATURES, Schema(rules=(FieldRule("n1", "number", clip_quantile=0.99),)))
  with pytest.raises(UserError, match="duplicates of 'user_id'"):
    StreamingFit(FEATURES, Schema(rules=(), dedup_key="user_id"))
  with pytest.raises(UserError, match="no rows"):
    StreamingFit(FEATURES, SCHEMA).processor()
