"""TFDS builder of the synthetic shop: impression logs written as array_record, read with `as_data_source()`.

Each TFDS example is a row group of up to `ROWS_PER_EXAMPLE` consecutive impressions stored as columns (as Parquet
does): decoding a TFDS example costs ~0.7 ms in pure Python without TensorFlow, so one example per impression would
take minutes to read for the default 300k rows; row groups read in about a second. Histories are stored flat with a
per-row length. `sources.load_synthetic_shop` unpacks row groups back into rows.

The builder config carries the whole `ShopSpec`, and its name is a digest of it, so shops of different sizes,
seeds or dirt rates live side by side in one data_dir and are generated once each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import tensorflow_datasets as tfds

from rec_jax.data.synthetic_shop import dirt, world
from rec_jax.data.tfds_prepare import LocalBuild

_STRING_FIELDS = ("user_id", "age_bucket", "gender", "region", "device", "item_id", "category", "brand",
                  "title", "description")
_INT_FIELDS = ("impression_id", "timestamp", "hour", "weekday", "label", "rating")
_FLOAT_FIELDS = ("price", "p_true")
ROWS_PER_EXAMPLE = 1024


def string_and_int_fields(spec: world.ShopSpec):
  """The string and integer columns of a shop; a search shop also has each row's query and session."""
  if spec.search:
    return _STRING_FIELDS + ("query",), _INT_FIELDS + ("session_id",)
  return _STRING_FIELDS, _INT_FIELDS


@dataclasses.dataclass
class ShopConfig(tfds.core.BuilderConfig):
  spec: world.ShopSpec = dataclasses.field(default_factory=world.ShopSpec)


def shop_config(spec: world.ShopSpec) -> ShopConfig:
  digest = hashlib.sha1(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode()).hexdigest()[:12]
  return ShopConfig(name=f"shop_{digest}", description=json.dumps(dataclasses.asdict(spec)), spec=spec)


class SyntheticShop(LocalBuild, tfds.core.GeneratorBasedBuilder):
  """Impressions of a synthetic e-commerce shop with a planted click model (see `world.py`)."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "Adds `rating` (1-5 stars)."}

  def _info(self) -> tfds.core.DatasetInfo:
    column = lambda dtype: tfds.features.Tensor(shape=(None,), dtype=dtype)  # noqa: E731
    strings, ints = string_and_int_fields(self.builder_config.spec)
    features = {f: column(np.object_) for f in strings + ("history_items",)}
    features.update({f: column(np.int64) for f in ints + ("history_length",)})
    features.update({f: column(np.float32) for f in _FLOAT_FIELDS})
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features),
        homepage="https://github.com/rec_jax/rec_jax",
        description="Synthetic shop impressions; `p_true` is the planted click probability.")

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is generated from the spec; nothing is downloaded.
    spec = self.builder_config.spec
    clean = world.generate(spec)
    rng = np.random.default_rng([spec.seed, 1])
    return {split: self._generate_examples(dirt.inject(cols, spec.dirty_rate, rng))
            for split, cols in clean.items()}

  def _generate_examples(self, columns):
    n = len(columns["label"])
    for start in range(0, n, ROWS_PER_EXAMPLE):
      block = {k: v[start:start + ROWS_PER_EXAMPLE] for k, v in columns.items()}
      history = block.pop("history")
      block["history_length"] = np.array([len(h) for h in history], dtype=np.int64)
      block["history_items"] = np.array([i for h in history for i in h], dtype=object)
      for f in string_and_int_fields(self.builder_config.spec)[0]:
        block[f] = block[f].astype(object)
      # Duplicated rows share an impression_id, so the key is the row group's position.
      yield start, block
