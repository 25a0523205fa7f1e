"""Injects the dirt of real logs into clean synthetic rows: duplicates, missing fields, bad prices, ids, labels."""

from __future__ import annotations

from typing import Dict

import numpy as np

_MISSABLE = ("age_bucket", "gender", "region", "device", "title", "description", "brand")
KINDS = ("duplicate", "missing_field", "nan_price", "negative_price", "unknown_id", "bad_label")


def inject(columns: Dict[str, np.ndarray], rate: float, rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """Returns a copy of `columns` where about `rate` of rows are dirty, split evenly over KINDS.

  Duplicates are extra rows (an exact copy next to the original, as a replayed log line would be); the other kinds
  corrupt existing rows in place.
  """
  cols = {k: v.copy() for k, v in columns.items()}
  n = len(cols["label"])
  n_each = int(round(rate * n / len(KINDS)))
  if n_each == 0:
    return cols
  victims = rng.permutation(n)[: n_each * (len(KINDS) - 1)].reshape(len(KINDS) - 1, n_each)
  missing, nan_price, neg_price, bad_id, bad_label = victims
  missable = _MISSABLE + (("query",) if "query" in cols else ())
  field = rng.choice(missable, size=n_each)
  for f in missable:
    cols[f][missing[field == f]] = ""
  cols["price"][nan_price] = np.nan
  cols["price"][neg_price] = -np.abs(cols["price"][neg_price])
  id_field = rng.choice(["user_id", "item_id"], size=n_each)
  for f in ("user_id", "item_id"):
    rows = bad_id[id_field == f]
    cols[f][rows] = np.where(rng.random(len(rows)) < 0.5, "", f[0] + "?")
  cols["label"][bad_label] = rng.choice([-1, 2], size=n_each)
  dup = np.sort(rng.choice(n, size=n_each, replace=False))
  order = np.sort(np.concatenate([np.arange(n), dup]), kind="stable")
  return {k: v[order] for k, v in cols.items()}
