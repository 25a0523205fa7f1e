"""data.name=synthetic_shop: the built-in synthetic shop (rec_jax/data/synthetic_shop/), generated once per spec
(`data.shop`) as a TFDS dataset and read back as raw columns per split."""

from __future__ import annotations

import logging

import numpy as np

from rec_jax.data.raw import Columns, RawDataset
from rec_jax.errors import UserError
from rec_jax.data.synthetic_shop import builder, schema, world
from rec_jax.data.tfds_prepare import decode_strings, prepare_once, read_row_groups


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


class SyntheticShop:
  """`DATASET`: builds (once) and reads the shop described by `data.shop` from `data.data_dir`."""

  def check(self, data_cfg) -> None:
    """The shop's spec is valid (checked before any work, rec_jax/experiment.py's preflight)."""
    if "shop" not in data_cfg:
      raise UserError("data.name='synthetic_shop' needs the data.shop section of its spec, which this config has "
                      "not (configs/synthetic.py has it); a real dataset's config keeps its own data.name")
    world.ShopSpec(**dict(data_cfg.shop))

  def load(self, data_cfg, features=None) -> RawDataset:
    del features  # The shop stores its histories.
    return load_shop(world.ShopSpec(**dict(data_cfg.shop)), data_cfg.data_dir)


DATASET = SyntheticShop()


def load_shop(spec: world.ShopSpec, data_dir: str) -> RawDataset:
  shop = prepare_once(builder.SyntheticShop, builder.shop_config(spec), data_dir)
  out = {}
  for split in world.SPLITS:
    source = shop.as_data_source(split=split)
    logging.info("reading %s/%s: %d row groups", shop.builder_config.name, split, len(source))
    out[split] = unpack_row_groups(read_row_groups(source, f"read {split}"))
  return RawDataset(out, schema.schema_for(spec))
