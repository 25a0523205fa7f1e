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
from typing import Dict, Optional

import numpy as np

from rec_jax.data.catalogue import build_catalogue, item_keys
from rec_jax.data.features import FeatureArrays, FeatureProcessor
from rec_jax.data.governance import govern
from rec_jax.data.item_sets import ItemSets
from rec_jax.data.sources import DATASETS
from rec_jax.evaluation.negatives import saved_negatives, sample_negatives
from rec_jax.evaluation.ranking_queries import ranking_queries
from rec_jax.progress import bar
from rec_jax.workdir import DATA_REPORT_FILE, EVAL_NEGATIVES_DIR, PROCESSOR_FILE



@dataclasses.dataclass
class PreparedData:
  splits: Dict[str, FeatureArrays]
  processor: FeatureProcessor
  report: dict
  catalogue: FeatureArrays   # one row per item of all splits; rows of every split carry its `item_key`
  users: Optional[np.ndarray] = None   # raw user ids of all splits; rows carry their index, `user_key`


def _check_source_accounting(source: dict, report: dict) -> None:
  """The rows that the used stored splits kept after their policies are exactly the rows governance read."""
  kept = sum(source["splits"][s]["rows_kept"] for s in source["used_splits"])
  split_rows = sum(r["rows_read"] for r in report["splits"].values())
  if kept != split_rows:
    raise AssertionError(f"row accounting broken: the source splits {source['used_splits']} kept {kept} rows but "
                         f"the train/validation/test splits hold {split_rows}")


def prepare_data(config, workdir: str, *, write_report: bool = True) -> PreparedData:
  """`write_report=False` (rec_jax.analysis reading a finished run) leaves the workdir's data_report.json alone and
  needs the feature processor the run fitted."""
  from rec_jax.data import real_sources  # noqa: F401  (registers the real datasets; imports TFDS)
  raw = DATASETS.get(config.data.name)(config.data, config.features)
  missing = {"train", config.eval.split, config.eval.final_split} - set(raw.splits)
  if missing:
    raise ValueError(f"dataset {config.data.name!r} has no split(s) {sorted(missing)}; it has {sorted(raw.splits)}")
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
    processor = FeatureProcessor.load(path, config.features)
  elif not write_report:
    raise FileNotFoundError(f"{path} does not exist: {workdir} holds no run that prepared its data")
  else:
    processor = FeatureProcessor(config.features).fit(clean["train"])
    processor.save(path)
  # Tokenising every split's texts is the slow part of preparing a large dataset.
  splits = {name: processor.transform(cols) for name, cols in bar(clean.items(), desc="features", unit="split")}
  order = ["train"] + sorted(set(clean) - {"train"})
  catalogue, keys = build_catalogue(processor, clean, order)
  for name, arrays in splits.items():
    arrays.rows["item_key"] = item_keys(clean[name], config.features.item_id, keys)
  users = _attach_user_items(splits, clean, config.features.user_id, order, len(catalogue))
  if config.task in ("retrieval", "next_item") and config.eval.get("ranking", {}).get("candidates") == "sampled":
    _attach_negatives(config, workdir, splits, len(catalogue))
  return PreparedData(splits, processor, report, catalogue, users)


def _attach_user_items(splits: Dict[str, FeatureArrays], clean, user_col: str, order, num_items: int) -> np.ndarray:
  """rows["user_key"] (index of the raw user among all splits' users) and, per split, `extras["seen"]`: each
  user's catalogue items in the splits before it (train < validation < test; other splits see train),
  and `extras["interacted"]`: their items in every split."""
  users = np.unique(np.concatenate([clean[s][user_col].astype(str) for s in order]))
  for name in order:
    splits[name].rows["user_key"] = np.searchsorted(users, clean[name][user_col].astype(str)).astype(np.int32)
  sequence = [s for s in ("train", "validation", "test") if s in splits]
  def item_sets(names):
    names = list(names)
    if not names:
      return ItemSets.from_pairs(np.zeros(0), np.zeros(0), len(users))
    return ItemSets.from_pairs(np.concatenate([splits[s].rows["user_key"] for s in names]),
                               np.concatenate([splits[s].rows["item_key"] for s in names]), len(users))
  everything = item_sets(order)
  for name in order:
    earlier = sequence[:sequence.index(name)] if name in sequence else ["train"]
    splits[name].extras.update(seen=item_sets(earlier), interacted=everything)
  return users


def _attach_negatives(config, workdir: str, splits: Dict[str, FeatureArrays], num_items: int) -> None:
  """`extras["negatives"]` of the evaluation splits (evaluation/negatives.py), drawn once and saved."""
  ranking = config.eval.ranking
  train = splits["train"].rows
  popularity = np.bincount(train["item_key"][train["label"] > 0], minlength=num_items)
  settings = {"num_negatives": int(ranking.num_negatives), "sampler": ranking.sampler,
              "negative_seed": int(ranking.negative_seed), "num_items": num_items}
  for index, name in enumerate(dict.fromkeys([config.eval.split, config.eval.final_split])):
    arrays = splits[name]
    queries = ranking_queries(arrays.rows, ranking.unit)
    users, targets = arrays.rows["user_key"][queries.rows], arrays.rows["item_key"][queries.rows]

    def draw(users=users, targets=targets, arrays=arrays, index=index):
      return sample_negatives(users, targets, arrays.extras["interacted"], num_items, settings["num_negatives"],
                              ranking.sampler, popularity, [settings["negative_seed"], index])
    arrays.extras["negatives"] = saved_negatives(os.path.join(workdir, EVAL_NEGATIVES_DIR, f"{name}.npz"), users,
                                                 targets, settings, draw)
