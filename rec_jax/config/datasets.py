"""Pointing the base config (config/base.py) at a dataset: the built-in synthetic shop (`use_synthetic_shop`, and
its tiny `shop_smoke` preset) or a real dataset's official files (`use_real_dataset`); each sets the `data` section
and the `features` its columns feed."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import ml_collections

from rec_jax.data.synthetic_shop.world import ShopSpec

SHOP_CATEGORICAL = ("age_bucket", "gender", "region", "device", "category", "brand", "hour", "weekday")
SPLIT_DEFAULTS = dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="",
                      folds=(), validation_fraction=0.1)


def use_synthetic_shop(c: ml_collections.ConfigDict, **shop) -> ml_collections.ConfigDict:
  """The synthetic shop (rec_jax/data/synthetic_shop/world.py's ShopSpec, every field listed; `shop` overrides),
  CTR on its impressions. Its stored histories are `features.history_length` long: one value for both."""
  c.data.name = "synthetic_shop"
  c.data.shop = {**dataclasses.asdict(ShopSpec()), **shop}
  c.data.shop.history_length = c.features.get_ref("history_length")
  c.features.categorical = SHOP_CATEGORICAL
  c.features.numeric = ("price",)
  c.features.text = ("title", "description")
  # Which features describe the user and which the item (the two towers of model.name=two_tower); the rest
  # (hour, weekday) are context.
  c.features.user_features = ("age_bucket", "gender", "region", "device")
  c.features.item_features = ("category", "brand", "price")
  c.features.oracle = "p_true"
  return c


def shop_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tiny shop and model of the `smoke` presets: the same code path in well under a minute."""
  c.data.shop.update(num_users=200, num_items=100, num_impressions=6000)
  c.features.history_length = 5
  c.features.text_max_length = 24
  c.model.embed_dim = 8
  c.model.mlp = (16,)
  c.model.text.bert.update(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
  c.train.update(num_steps=40, batch_size=64, warmup_steps=5, log_every=10)
  c.eval.update(every_steps=20, batch_size=256)
  c.checkpoint.every_steps = 20
  return c


def use_real_dataset(c: ml_collections.ConfigDict, name: str, *, options: dict, split: dict,
                     implicit_threshold: float = 0.0, categorical: Sequence[str] = (),
                     numeric: Sequence[str] = (), text: Sequence[str] = (), user_features: Sequence[str] = (),
                     item_features: Sequence[str] = (), label: str = "label") -> ml_collections.ConfigDict:
  """Points config `c` at dataset format `name` (rec_jax/data/datasets/<name>.py); `data.path` stays to be set."""
  c.data.name = name
  c.data.path = ""   # The directory or file holding the dataset's official files (--config.data.path=...).
  c.data.options = dict(options)
  # Malformed lines allowed per file before the run stops (data_report.json lists them either way).
  c.data.max_bad_fraction = 0.01
  # label = rating >= this (implicit feedback from ratings); 0: every interaction is a positive.
  c.data.implicit_threshold = float(implicit_threshold)
  c.data.split = {**SPLIT_DEFAULTS, **split}
  # Prepare the data block by block into a row store on disk that batches are read from (data/streaming/), for
  # logs too large to hold in memory; tabular pointwise runs only (check_streaming names what it cannot do).
  c.data.streaming = False
  c.features.categorical = tuple(categorical)
  c.features.numeric = tuple(numeric)
  c.features.text = tuple(text)
  c.features.user_features = tuple(user_features)
  c.features.item_features = tuple(item_features)
  c.features.label = label
  c.features.oracle = ""
  return c
