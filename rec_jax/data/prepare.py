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
from typing import Dict

from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureArrays, FeatureProcessor
from rec_jax.data.governance import govern
from rec_jax.data.sources import DATASETS

PROCESSOR_FILE = "feature_processor.json"
REPORT_FILE = "data_report.json"


@dataclasses.dataclass
class PreparedData:
  splits: Dict[str, FeatureArrays]
  processor: FeatureProcessor
  report: dict
  catalogue: FeatureArrays   # one row per item of all splits; rows of every split carry its `item_key`


def prepare_data(config, workdir: str) -> PreparedData:
  raw = DATASETS.get(config.data.name)(config.data)
  missing = {"train", config.eval.split, config.eval.final_split} - set(raw.splits)
  if missing:
    raise ValueError(f"dataset {config.data.name!r} has no split(s) {sorted(missing)}; it has {sorted(raw.splits)}")
  clean, report = govern(raw.schema, raw.splits)
  with open(os.path.join(workdir, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=1)
  for split, r in report["splits"].items():
    logging.info("governance %s: read %d kept %d dropped %s imputed %s clipped %s", split, r["rows_read"],
                 r["rows_kept"], r["dropped"], r["imputed"], r["clipped"])
  path = os.path.join(workdir, PROCESSOR_FILE)
  if os.path.exists(path):
    processor = FeatureProcessor.load(path, config.features)
  else:
    processor = FeatureProcessor(config.features).fit(clean["train"])
    processor.save(path)
  splits = {name: processor.transform(cols) for name, cols in clean.items()}
  order = ["train"] + sorted(set(clean) - {"train"})
  catalogue, keys = build_catalogue(processor, clean, order)
  for name, arrays in splits.items():
    arrays.rows["item_key"] = item_keys(clean[name], config.features.item_id, keys)
  return PreparedData(splits, processor, report, catalogue)
