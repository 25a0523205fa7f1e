"""The item catalogue (one row per item of every split, new items included) and rows' `item_key`."""

from __future__ import annotations

import numpy as np
import pytest

from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureOptions, FeatureProcessor

CFG = FeatureOptions.from_config(dict(
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
  np.testing.assert_array_equal(catalogue.rows.item_is_cold, [False, False, True])
  assert catalogue.rows.item_id[2] == 1   # OOV, but the item is still a candidate with its own features
  np.testing.assert_array_equal(item_keys(clean["test"], "item", keys), [2, 1])
  with pytest.raises(ValueError, match="missing from the catalogue"):
    item_keys(_cols(["u1"], ["i7"], [1]), "item", keys)
