"""Config sections of a real dataset, for config files (configs/movielens_*.py, ...): the `data` section every
format reads (rec_jax/data/real_sources.py) and the `features` that its columns feed."""

from __future__ import annotations

import os
from typing import Sequence, Set, Tuple

import ml_collections

from rec_jax.config.loader import load_config

SPLIT_DEFAULTS = dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="",
                      folds=(), validation_fraction=0.1)


def synthetic_with_presets(config_file: str, arg, valid: Sequence[str]) -> Tuple[ml_collections.ConfigDict, Set[str]]:
  """(configs/synthetic.py's config with the `key=value` parts of `arg` (seed=N), the named presets of `arg`) for
  the config file `config_file` (its __file__), whose presets are `valid`."""
  parts = [p for p in (arg or "").split(",") if p]
  presets = {p for p in parts if "=" not in p}
  unknown = presets - set(valid)
  if unknown:
    raise ValueError(f"unknown preset(s) {sorted(unknown)} for configs/{os.path.basename(config_file)}; valid: "
                     f"{', '.join(valid)}, seed=N")
  synthetic = os.path.join(os.path.dirname(os.path.abspath(config_file)), "synthetic.py")
  return load_config(synthetic + ":" + ",".join(p for p in parts if "=" in p)), presets


def use_real_dataset(c: ml_collections.ConfigDict, name: str, *, options: dict, split: dict,
                     implicit_threshold: float = 0.0, categorical: Sequence[str] = (),
                     numeric: Sequence[str] = (), text: Sequence[str] = (), user_features: Sequence[str] = (),
                     item_features: Sequence[str] = (), label: str = "label") -> ml_collections.ConfigDict:
  """Points config `c` (configs/synthetic.py's) at dataset format `name`; `data.path` stays to be set."""
  data_dir = c.data.data_dir
  c.data = ml_collections.ConfigDict()
  c.data.name = name
  c.data.path = ""   # The directory or file holding the dataset's official files (--config.data.path=...).
  c.data.data_dir = data_dir
  c.data.options = dict(options)
  # Malformed lines allowed per file before the run stops (data_report.json lists them either way).
  c.data.max_bad_fraction = 0.01
  # label = rating >= this (implicit feedback from ratings); 0: every interaction is a positive.
  c.data.implicit_threshold = float(implicit_threshold)
  c.data.split = {**SPLIT_DEFAULTS, **split}
  c.features.categorical = tuple(categorical)
  c.features.numeric = tuple(numeric)
  c.features.text = tuple(text)
  c.features.user_features = tuple(user_features)
  c.features.item_features = tuple(item_features)
  c.features.label = label
  c.features.oracle = ""
  return c
