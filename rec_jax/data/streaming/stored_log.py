"""A dataset's stored log as streaming preparation reads it (`StoredLog`): its TFDS data source of row groups
(formats/table_builder.py), read a few groups at a time, with its columns, governance schema and source report."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterator

import numpy as np

from rec_jax.data.governance import Schema

Columns = Dict[str, np.ndarray]


@dataclasses.dataclass
class StoredLog:
  name: str                     # the stored dataset's config name: a digest of its files, options and columns
  source: Any                   # TFDS data source of the `full` split (row groups)
  columns: Dict[str, str]       # column -> kind (formats/columns.py)
  schema: Schema
  rows: int                     # rows stored
  report: dict                  # the source report (formats/source_report.py), with `used_splits`
  labels: Callable[[Columns], np.ndarray]   # the label column of a block (from a rating and a threshold, ...)

  def blocks(self, groups: int = 16) -> Iterator[Columns]:
    """The stored rows in order, `groups` row groups (4096 rows each) at a time, with their labels."""
    from rec_jax.data.formats.table_builder import unpack  # pylint: disable=import-outside-toplevel  (a cycle)
    for start in range(0, len(self.source), groups):
      block = unpack(self.source.__getitems__(list(range(start, min(start + groups, len(self.source))))),
                     self.columns)
      block["label"] = self.labels(block)
      yield block
