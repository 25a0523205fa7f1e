"""Data preparation for a run: source -> governance (data_report.json) -> fitted features (feature_processor.json)
-> feature arrays per split, and the item catalogue that ranking evaluation ranks (data/catalogue.py).

The processor is fitted on the train split the first time and loaded from the workdir afterwards, so resumed runs
and later evaluations see exactly the same vocabularies and statistics.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Dict, Optional, Sequence

import numpy as np

from rec_jax.batch import FeatureArrays
from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.governance import govern
from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UserError
from rec_jax.progress import bar
from rec_jax.workdir import DATA_REPORT_FILE, PROCESSOR_FILE


@dataclasses.dataclass
class PreparedData:
  splits: Dict[str, FeatureArrays]
  processor: FeatureProcessor
  report: dict
  catalogue: FeatureArrays   # one row per item of all splits; rows of every split carry its `item_key`
  users: Optional[np.ndarray] = None   # raw user ids of all splits; rows carry their index, `user_key`

  def vocab_sizes(self) -> Dict[str, int]:
    return self.processor.vocab_sizes()


def _check_source_accounting(source: dict, report: dict) -> None:
  """The rows that the used stored splits kept after their policies are exactly the rows governance read."""
  kept = sum(source["splits"][s]["rows_kept"] for s in source["used_splits"])
  split_rows = sum(r["rows_read"] for r in report["splits"].values())
  if kept != split_rows:
    raise AssertionError(f"row accounting broken: the source splits {source['used_splits']} kept {kept} rows but "
                         f"the train/validation/test splits hold {split_rows}")


def prepare_data(dataset, data_cfg, features: FeatureOptions, workdir: str, *, required_splits: Sequence[str],
                 write_report: bool = True) -> PreparedData:
  """`dataset`: the `DATASET` of data.name's module (rec_jax/data/datasets/), read with the `data` section.
  `write_report=False` (rec_jax.analysis reading a finished run) leaves the workdir's data_report.json alone and
  needs the feature processor the run fitted."""
  raw = dataset.load(data_cfg, features)
  missing = set(required_splits) - set(raw.splits)
  if missing:
    raise UserError(f"dataset {data_cfg.name!r} has no split(s) {sorted(missing)}; it has {sorted(raw.splits)}")
  clean, report = govern(raw.schema, raw.splits)
  if raw.source_report is not None:
    _check_source_accounting(raw.source_report, report)
    report = {"source": raw.source_report, **report}
  if write_report:
    with open(os.path.join(workdir, DATA_REPORT_FILE), "w") as f:
      json.dump(report, f, indent=1)
  for split, r in report["splits"].items():
    logging.info("governance %s: read %d kept %d dropped %s imputed %s clipped %s", split, r["rows_read"],
                 r["rows_kept"], r["dropped"], r["imputed"], r["clipped"])
  path = os.path.join(workdir, PROCESSOR_FILE)
  if os.path.exists(path):
    processor = FeatureProcessor.load(path, features)
  elif not write_report:
    raise FileNotFoundError(f"{path} does not exist: {workdir} holds no run that prepared its data")
  else:
    processor = FeatureProcessor(features).fit(clean["train"])
    processor.save(path)
  # Tokenising every split's texts is the slow part of preparing a large dataset.
  splits = {name: processor.transform(cols) for name, cols in bar(clean.items(), desc="features", unit="split")}
  order = ["train"] + sorted(set(clean) - {"train"})
  catalogue, keys = build_catalogue(processor, clean, order)
  for name, arrays in splits.items():
    arrays.rows = arrays.rows.replace(item_key=item_keys(clean[name], features.item_id, keys))
  users = _attach_user_items(splits, clean, features.user_id, order)
  return PreparedData(splits, processor, report, catalogue, users)


def _attach_user_items(splits: Dict[str, FeatureArrays], clean, user_col: str, order) -> np.ndarray:
  """`Rows.user_key` (index of the raw user among all splits' users) and, per split, `seen`: each user's catalogue
  items in the splits before it (train < validation < test; other splits see train), and `interacted`: their items
  in every split."""
  users = np.unique(np.concatenate([clean[s][user_col].astype(str) for s in order]))
  for name in order:
    keys = np.searchsorted(users, clean[name][user_col].astype(str)).astype(np.int32)
    splits[name].rows = splits[name].rows.replace(user_key=keys)
  sequence = [s for s in ("train", "validation", "test") if s in splits]
  def item_sets(names):
    names = list(names)
    if not names:
      return ItemSets.from_pairs(np.zeros(0), np.zeros(0), len(users))
    return ItemSets.from_pairs(np.concatenate([splits[s].rows.user_key for s in names]),
                               np.concatenate([splits[s].rows.item_key for s in names]), len(users))
  everything = item_sets(order)
  for name in order:
    earlier = sequence[:sequence.index(name)] if name in sequence else ["train"]
    splits[name].seen, splits[name].interacted = item_sets(earlier), everything
  return users
