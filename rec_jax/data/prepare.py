"""Data preparation for a run: source -> governance (data_report.json) -> fitted features (feature_processor.json)
-> feature arrays per split, and the item catalogue that ranking evaluation ranks (data/catalogue.py).

The processor is fitted on the train split the first time and loaded from the workdir afterwards, so resumed runs
and later evaluations see exactly the same vocabularies and statistics; the governed splits must then be the very
data it was fitted on (data/fingerprint.py), else the run is refused by name.

Many processes (rec_jax/distributed.py): each prepares the data itself (deterministic: a processor it fits equals
the one saved, which JSON round-trips exactly), process 0 reading the source first (a dataset built on first use is
built once) and alone writing the report, the processor and the fingerprint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Dict, Optional, Sequence

import numpy as np

from rec_jax import distributed
from rec_jax.batch import FeatureArrays
from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.fingerprint import check_fingerprint, split_digest, write_fingerprint
from rec_jax.data.governance import govern
from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UserError
from rec_jax.progress import bar
from rec_jax.workdir import DATA_FINGERPRINT_FILE, DATA_REPORT_FILE, PROCESSOR_FILE


@dataclasses.dataclass
class PreparedData:
  splits: Dict[str, FeatureArrays]
  processor: FeatureProcessor
  report: dict
  # One row per item of all splits; rows of every split carry its `item_key`. None: streamed data
  # (data/streaming/prepare.py), which has no catalogue.
  catalogue: Optional[FeatureArrays]
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


def check_feature_columns(features: FeatureOptions, columns) -> None:
  """Every column the `features` section names is a column of the data (a typo is named, with the columns); given
  the columns' values, the label and the numeric features must be numbers."""
  named = {"user_id": [features.user_id], "item_id": [features.item_id], "label": [features.label],
           "history": [features.history], "categorical": features.categorical, "numeric": features.numeric,
           "text": features.text, "query": [features.query], "rank_group": [features.rank_group],
           "user_features": features.user_features, "item_features": features.item_features}
  missing = [f"features.{key}={name!r}" for key, names in named.items() for name in names
             if name and name not in columns]
  if missing:
    raise UserError(f"{', '.join(missing)}: not a column of the data; its columns: {', '.join(sorted(columns))}")
  if not hasattr(columns, "items"):
    return
  numbers = sorted(c for c, v in columns.items() if np.asarray(v).dtype.kind in "biuf")
  not_numbers = [f"features.{key}={name!r}" for key in ("label", "numeric") for name in named[key]
                 if name and np.asarray(columns[name]).dtype.kind not in "biuf"]
  if not_numbers:
    raise UserError(f"{', '.join(not_numbers)}: not a number column (the label and features.numeric must be "
                    f"numbers); the data's number columns: {', '.join(numbers) or 'none'}")


def prepare_data(dataset, data_cfg, features: FeatureOptions, workdir: str, *, required_splits: Sequence[str],
                 write_report: bool = True) -> PreparedData:
  """`dataset`: the `DATASET` of data.name's module (rec_jax/data/datasets/), read with the `data` section.
  `write_report=False` (rec_jax.analysis reading a finished run) leaves the workdir's data_report.json alone and
  needs the feature processor the run fitted."""
  if data_cfg.get("streaming", False):
    from rec_jax.data.streaming.prepare import prepare_streamed  # pylint: disable=import-outside-toplevel  (a cycle)
    return prepare_streamed(dataset, data_cfg, features, workdir, write_report=write_report)
  raw = distributed.primary_first(lambda: dataset.load(data_cfg, features), "reading the data")
  writes = write_report and distributed.is_primary()
  missing = set(required_splits) - set(raw.splits)
  if missing:
    raise UserError(f"dataset {data_cfg.name!r} has no split(s) {sorted(missing)}; it has {sorted(raw.splits)}")
  clean, report = govern(raw.schema, raw.splits)
  check_feature_columns(features, clean["train"])
  if raw.source_report is not None:
    _check_source_accounting(raw.source_report, report)
    report = {"source": raw.source_report, **report}
  if writes:
    with open(os.path.join(workdir, DATA_REPORT_FILE), "w") as f:
      json.dump(report, f, indent=1)
  for split, r in report["splits"].items():
    logging.info("governance %s: read %d kept %d dropped %s imputed %s clipped %s", split, r["rows_read"],
                 r["rows_kept"], r["dropped"], r["imputed"], r["clipped"])
  path = os.path.join(workdir, PROCESSOR_FILE)
  digests = {name: split_digest(cols) for name, cols in clean.items()}
  source = data_cfg.get("path", "") or f"{data_cfg.name} in {data_cfg.data_dir}"
  if os.path.exists(path):
    if not check_fingerprint(workdir, digests, source) and writes:
      logging.warning("%s has no data fingerprint (a run from before they were recorded): recording the data "
                      "as it is now", workdir)
      write_fingerprint(workdir, digests, path)
    processor = FeatureProcessor.load(path, features)
  elif not write_report:
    raise FileNotFoundError(f"{path} does not exist: {workdir} holds no run that prepared its data")
  else:
    processor = FeatureProcessor(features).fit(clean["train"])
    if writes:
      processor.save(path + ".tmp")
      if os.path.exists(os.path.join(workdir, DATA_FINGERPRINT_FILE)):
        # A run that recorded its data lost its processor: fitted again, it must be fitted on that same data (the
        # check also compares the new processor with the recorded one's digest).
        os.replace(path + ".tmp", path)
        check_fingerprint(workdir, digests, source)
      else:
        # The fingerprint is on disk before the processor: a workdir with a processor always has its fingerprint.
        write_fingerprint(workdir, digests, path + ".tmp")
        os.replace(path + ".tmp", path)
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
