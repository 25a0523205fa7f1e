"""Dataset sources: a registry from `data.name` to a loader returning raw columns per split and their schema.

A loader, `loader(data_cfg, features_cfg)`, returns a `RawDataset`: `splits` is `{split: {column: np.ndarray}}` with strings decoded to `str` (object arrays) and list-valued
columns as object arrays of lists. Raw means before governance: rows may be dirty.
"""

from __future__ import annotations

import logging
from typing import Dict, NamedTuple, Optional

import numpy as np

from rec_jax.data.governance import Schema
from rec_jax.data.tfds_prepare import decode_strings, prepare_once, read_row_groups
from rec_jax.registry import Registry

Columns = Dict[str, np.ndarray]
DATASETS: Registry = Registry("dataset")


class RawDataset(NamedTuple):
  splits: Dict[str, Columns]
  schema: Schema
  source_report: Optional[dict] = None   # what reading the files did (data/formats/source_report.py)


def unpack_row_groups(groups) -> Columns:
  """Row-group examples (dicts of equal-length columns; histories flat with per-row lengths) -> row columns."""
  if not groups:
    return {}
  cols = {k: decode_strings(np.concatenate([np.asarray(g[k]) for g in groups])) for k in groups[0]}
  lengths = cols.pop("history_length")
  flat = cols.pop("history_items")
  history = np.empty(len(lengths), dtype=object)
  history[:] = [list(h) for h in np.split(flat, np.cumsum(lengths)[:-1])]
  cols["history"] = history
  # TFDS stores examples in a hashed order; give rows back in log order.
  order = np.lexsort((cols["impression_id"], cols["timestamp"]))
  return {k: v[order] for k, v in cols.items()}


@DATASETS.register("synthetic_shop")
def load_synthetic_shop(data_cfg, features_cfg=None) -> RawDataset:
  """Builds (once) and reads the synthetic shop described by `data_cfg.shop` from `data_cfg.data_dir`."""
  del features_cfg  # The shop stores its histories.
  from rec_jax.data.synthetic_shop import builder, schema, world  # TFDS import is slow; only when used.
  spec = world.ShopSpec(**dict(data_cfg.shop))
  shop = prepare_once(builder.SyntheticShop, builder.shop_config(spec), data_cfg.data_dir)
  out = {}
  for split in world.SPLITS:
    source = shop.as_data_source(split=split)
    logging.info("reading %s/%s: %d row groups", shop.builder_config.name, split, len(source))
    out[split] = unpack_row_groups(read_row_groups(source, f"read {split}"))
  return RawDataset(out, schema.schema_for(spec))
