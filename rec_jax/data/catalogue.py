"""The item catalogue: every item the data knows (train, validation and test), one row each, for full ranking.

Ranking evaluation scores each test click against the whole catalogue, so new items (cold: unseen in training,
out of the id vocabulary) are candidates too, with whatever side features and text the model reads for them. An
item's row is its first row in train, then validation, then test order. Rows of every split carry `item_key`, the
index of their item in the catalogue (the true candidate of a click).
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from rec_jax.batch import FeatureArrays
from rec_jax.data.features import Columns, FeatureProcessor
from rec_jax.errors import UserError


def build_catalogue(processor: FeatureProcessor, clean: Dict[str, Columns],
                    order: Sequence[str]) -> Tuple[FeatureArrays, np.ndarray]:
  """(catalogue rows [num_items], sorted raw item ids [num_items]) from the clean splits named in `order`."""
  item_col = processor.cfg.item_id
  columns = set.intersection(*(set(clean[s]) for s in order))
  stacked = {k: np.concatenate([clean[s][k] for s in order]) for k in columns}
  keys, first = np.unique(stacked[item_col].astype(str), return_index=True)
  catalogue = processor.transform({k: v[first] for k, v in stacked.items()})
  # What an analysis shows of each item (rec_jax.analysis): its raw id, texts and item features.
  described = [item_col, *processor.cfg.text, *processor.cfg.item_features]
  catalogue.raw = {k: stacked[k][first] for k in dict.fromkeys(described) if k in stacked}
  return catalogue, keys


def item_keys(cols: Columns, item_col: str, keys: np.ndarray) -> np.ndarray:
  """Catalogue index of each row's item; every item of the splits the catalogue was built from is in it."""
  raw = cols[item_col].astype(str)
  index = np.minimum(np.searchsorted(keys, raw), len(keys) - 1)
  missing = keys[index] != raw
  if missing.any():
    raise UserError(f"{int(missing.sum())} rows have items missing from the catalogue, e.g. {raw[missing][0]!r}")
  return index.astype(np.int32)
