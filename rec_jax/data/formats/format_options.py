"""The options of a file format (`data.options`) as the format's options dataclass."""

from __future__ import annotations

import dataclasses

from rec_jax.errors import UserError


def format_options(name: str, options: dict, defaults):
  """`options` (the config's `data.options`) as the format's options dataclass `defaults`; an unknown key, e.g. a
  typo that would otherwise silently read with the default, is a named error."""
  valid = [f.name for f in dataclasses.fields(defaults)]
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise UserError(f"{name} has no option(s) {unknown}; valid: {', '.join(valid)}")
  return defaults(**options)
