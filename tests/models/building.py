"""Models for tests, built as runs build them (rec_jax/experiment.py's build_model) from partial config sections."""

from __future__ import annotations

import ml_collections

from rec_jax.data.features import FeatureOptions
from rec_jax.experiment import build_model


def model(name: str, model_cfg, feature_cfg, vocab_sizes, *, label_offset: float = 0.0, rngs):
  """Model `name` from a (partial) `model` section and `features` section; absent options take their defaults."""
  cfg = ml_collections.ConfigDict(dict(model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else model_cfg))
  cfg.name = name
  features = FeatureOptions.from_config(feature_cfg, where="features")
  return build_model(cfg, features, vocab_sizes, label_offset=label_offset, rngs=rngs)
