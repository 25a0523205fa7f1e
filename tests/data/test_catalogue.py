"""The item catalogue (one row per item of every split, new items included), rows' `item_key`, and the training
rows of the ranking tasks: clicked rows with logQ, the uniform negative pool and its per-step draws."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureArrays, FeatureProcessor
from rec_jax.data.retrieval_rows import clicked_rows, negative_batch, negative_pool

CFG = ml_collections.ConfigDict(dict(
    categorical=("category",), numeric=(), numeric_transform="none", user_id="user", item_id="item",
    history="history", history_length=2, label="label", oracle="", text=(), query="", rank_group="",
    min_count=1, text_max_length=8, tokenizer=""))


def _cols(users, items, labels):
  history = np.empty(len(users), dtype=object)
  history[:] = [[] for _ in users]
  return {"user": np.array(users), "item": np.array(items), "category": np.array([f"c{i[-1]}" for i in items]),
          "label": np.array(labels), "history": history}


def test_catalogue_has_every_item_once_and_keys_index_it():
  clean = {"train": _cols(["u1", "u2", "u1"], ["i1", "i2", "i1"], [1, 0, 1]),
           "test": _cols(["u1", "u3"], ["i9", "i2"], [1, 1])}   # i9 is new: not in the train vocabulary
  processor = FeatureProcessor(CFG).fit(clean["train"])
  catalogue, keys = build_catalogue(processor, clean, ["train", "test"])
  assert list(keys) == ["i1", "i2", "i9"] and len(catalogue) == 3
  np.testing.assert_array_equal(catalogue.rows["item_is_cold"], [False, False, True])
  assert catalogue.rows["item_id"][2] == 1   # OOV, but the item is still a candidate with its own features
  np.testing.assert_array_equal(item_keys(clean["test"], "item", keys), [2, 1])
  with pytest.raises(ValueError, match="missing from the catalogue"):
    item_keys(_cols(["u1"], ["i7"], [1]), "item", keys)


def _arrays(item_ids, labels):
  rows = {"item_id": np.array(item_ids, np.int32), "label": np.array(labels, np.float32),
          "user_id": np.arange(len(item_ids), dtype=np.int32)}
  return FeatureArrays(rows, {})


def test_clicked_rows_carry_log_of_click_share():
  train = clicked_rows(_arrays([2, 3, 2, 4, 2], [1, 1, 1, 0, 1]))
  np.testing.assert_array_equal(train.rows["item_id"], [2, 3, 2, 2])
  np.testing.assert_allclose(train.rows["item_log_q"], np.log([0.75, 0.25, 0.75, 0.75]), rtol=1e-6)


def test_negative_pool_is_uniform_over_items_and_draws_are_per_step():
  pool = negative_pool(_arrays([5, 3, 5, 3, 7], [1, 1, 1, 1, 1]))
  np.testing.assert_array_equal(pool.rows["item_id"], [3, 5, 7])
  np.testing.assert_allclose(pool.rows["item_log_q"], np.log(1 / 3))
  first, again, other = (negative_batch(pool, s, 16, seed=0) for s in (4, 4, 5))
  assert set(first) == {"neg/item_id", "neg/label", "neg/user_id", "neg/item_log_q", "neg/weight"}
  np.testing.assert_array_equal(first["neg/item_id"], again["neg/item_id"])
  assert not np.array_equal(first["neg/item_id"], other["neg/item_id"])
