"""What a dataset gives rec_jax/data/prepare.py: raw columns per split, before governance, and their schema.

`splits` is `{split: {column: np.ndarray}}` with strings decoded to `str` (object arrays) and list-valued columns
as object arrays of lists. Raw means before governance: rows may be dirty.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

import numpy as np

from rec_jax.data.governance import Schema

Columns = Dict[str, np.ndarray]


class RawDataset(NamedTuple):
  splits: Dict[str, Columns]
  schema: Schema
  source_report: Optional[dict] = None   # what reading the files did (data/formats/source_report.py)
