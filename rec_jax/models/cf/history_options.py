"""The options every history encoder is built with: `model.history_options`, with `max_length` defaulting to the
history plus one position (sequence objectives append the target or a [mask] after the last history item)."""

from __future__ import annotations


def history_options(model_cfg, feature_cfg) -> dict:
  options = dict(model_cfg.get("history_options", None) or {})
  options.setdefault("max_length", feature_cfg.history_length + 1)
  return options
