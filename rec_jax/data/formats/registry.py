"""The registry of official file formats (`data.name`): each entry reads one dataset family's files unchanged.

A format is an object with
- `name`, `homepage`, `license` (shown in the README and the TFDS metadata);
- `locate(path, options) -> {role: file}`: the files it needs under `data.path` (a directory or one file); a
  missing one is a FileNotFoundError naming the file it expects and where it looked;
- `columns(files, options) -> {column: kind}` (kinds in formats/columns.py);
- `parse(files, options, report) -> {split: columns or a callable yielding column blocks}` (blocks for files too
  big to hold, e.g. Criteo), counting every line in `report` (formats/source_report.py);
- `download(dl_manager, options) -> path` where the files can be fetched (only when `data.path` is empty).
Split names are `full` (the whole log; rec_jax/data/splits.py splits it) or the format's predefined ones.
"""

from __future__ import annotations

import dataclasses

from rec_jax.registry import Registry

FORMATS: Registry = Registry("dataset format")


def format_options(name: str, options: dict, defaults):
  """`options` (the config's `data.options`) as the format's options dataclass `defaults`; an unknown key, e.g. a
  typo that would otherwise silently read with the default, is a named error."""
  valid = [f.name for f in dataclasses.fields(defaults)]
  unknown = sorted(set(options) - set(valid))
  if unknown:
    raise ValueError(f"{name} has no option(s) {unknown}; valid: {', '.join(valid)}")
  return defaults(**options)
