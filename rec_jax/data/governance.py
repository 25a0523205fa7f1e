"""Data governance: validate each row against a declared schema, drop/impute/clip by per-field policy, report it.

Every row read is either kept or dropped for exactly one reason (the first rule it breaks, in schema order), so
`rows_read == rows_kept + rows_dropped` for every split; `data_report.json` records the counts per reason and the
imputed/clipped counts per field. Fill values and clip bounds are fitted on the train split only.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from rec_jax.errors import UnknownNameError

Columns = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class FieldRule:
  """The policy of one field.

  kind: "id" (non-empty string matching `pattern`), "category" (string; empty = missing), "hex" (a category's
    int64 value; negative = missing), "text" (string),
    "number" (float; NaN = missing), "integer", "label" (must be in `allowed`), "id_list" (list of ids; invalid
    entries are removed, counted as imputed).
  on_missing: "drop" or "impute" (categories/text -> `fill`, numbers -> train median).
  low/high: valid range; values outside it are dropped (`on_invalid="drop"`) or clipped (`"clip"`).
  clip_quantile: numbers above this train quantile are clipped to it (outlier capping).
  """
  name: str
  kind: str
  on_missing: str = "drop"
  fill: object = ""
  pattern: Optional[str] = None
  low: Optional[float] = None
  high: Optional[float] = None
  on_invalid: str = "drop"
  allowed: Tuple = ()
  clip_quantile: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Schema:
  rules: Sequence[FieldRule]
  dedup_key: Optional[str] = None   # rows repeating an earlier row's key are dropped as "duplicate"


def _is_missing(rule: FieldRule, values: np.ndarray) -> np.ndarray:
  if rule.kind in ("number",):
    return ~np.isfinite(values.astype(np.float64))
  if rule.kind in ("id", "category", "text"):
    return np.array([v is None or str(v).strip() == "" for v in values], dtype=bool)
  if rule.kind == "hex":
    return values < 0
  return np.zeros(len(values), dtype=bool)


def is_invalid(rule: FieldRule, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
  bad = np.zeros(len(values), dtype=bool)
  if rule.pattern is not None:
    regex = re.compile(rule.pattern)
    bad |= np.array([not regex.fullmatch(str(v)) for v in values], dtype=bool)
  if rule.allowed:
    bad |= ~np.isin(values, np.asarray(rule.allowed))
  if rule.low is not None or rule.high is not None:
    x = np.where(missing, 0, values).astype(np.float64)
    bad |= (x < (rule.low if rule.low is not None else -np.inf)) | (x > (rule.high if rule.high is not None else np.inf))
  return bad & ~missing


def fit_fills(schema: Schema, train: Columns) -> Dict[str, Dict[str, float]]:
  """Train-only statistics of the policies: medians for numeric imputation and quantiles for clipping."""
  stats = {}
  for rule in schema.rules:
    if rule.kind != "number":
      continue
    x = train[rule.name].astype(np.float64)
    ok = np.isfinite(x) & ~is_invalid(rule, x, ~np.isfinite(x))
    if not ok.any():
      # No valid training value (e.g. no training item has a price): impute 0, and say so in the report.
      stats[rule.name] = {"median": 0.0, "no_valid_train_value": True}
      continue
    s = {"median": float(np.median(x[ok]))}
    if rule.clip_quantile is not None:
      s["clip_high"] = float(np.quantile(x[ok], rule.clip_quantile))
    stats[rule.name] = s
  return stats


def _clean_id_list(rule: FieldRule, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Removes invalid ids from each list; returns the lists and which rows were changed."""
  regex = re.compile(rule.pattern) if rule.pattern else None
  cleaned, fixed = np.empty(len(values), dtype=object), np.zeros(len(values), dtype=bool)
  for r, seq in enumerate(values):
    keep = [v for v in seq if v and (regex is None or regex.fullmatch(str(v)))]
    fixed[r] = len(keep) != len(seq)
    cleaned[r] = keep
  return cleaned, fixed


def clean(schema: Schema, columns: Columns, fills: Dict[str, Dict[str, float]]) -> Tuple[Columns, dict]:
  """Applies the schema to one split; returns the kept rows and this split's report."""
  n = len(next(iter(columns.values())))
  cols = {k: v.copy() for k, v in columns.items()}
  reason = np.full(n, "", dtype=object)
  imputed, clipped = {}, {}

  def drop(mask: np.ndarray, why: str):
    reason[mask & (reason == "")] = why

  if schema.dedup_key is not None:
    _, first = np.unique(cols[schema.dedup_key], return_index=True)
    dup = np.ones(n, dtype=bool)
    dup[first] = False
    drop(dup, "duplicate")
  for rule in schema.rules:
    if rule.name not in cols:
      raise UnknownNameError(f"schema field {rule.name!r} is not a column of the data (columns: {sorted(cols)})")
    v = cols[rule.name]
    if rule.kind == "id_list":
      cols[rule.name], imputed[rule.name] = _clean_id_list(rule, v)
      continue
    missing = _is_missing(rule, v)
    invalid = is_invalid(rule, v, missing)
    if rule.on_missing == "drop":
      drop(missing, f"missing:{rule.name}")
    else:
      fill = fills[rule.name]["median"] if rule.kind == "number" else rule.fill
      v[missing] = fill
      imputed[rule.name] = missing
    if rule.on_invalid == "drop":
      drop(invalid, f"invalid:{rule.name}")
    elif invalid.any():
      v[invalid] = np.clip(v[invalid].astype(np.float64), rule.low, rule.high)
      clipped[rule.name] = invalid
    high = fills.get(rule.name, {}).get("clip_high")
    if high is not None:
      over = v.astype(np.float64) > high
      v[over] = high
      clipped[rule.name] = clipped.get(rule.name, np.zeros(n, dtype=bool)) | over
  keep = reason == ""
  # Only rows that are kept count as imputed or clipped: a dropped row is accounted for once, by its reason.
  imputed = {k: int((m & keep).sum()) for k, m in imputed.items()}
  clipped = {k: int((m & keep).sum()) for k, m in clipped.items()}
  reasons, counts = np.unique(reason[~keep].astype(str), return_counts=True)
  report = dict(rows_read=int(n), rows_kept=int(keep.sum()), rows_dropped=int((~keep).sum()),
                dropped={str(r): int(c) for r, c in zip(reasons, counts)},
                imputed={k: c for k, c in imputed.items() if c}, clipped={k: c for k, c in clipped.items() if c})
  assert report["rows_read"] == report["rows_kept"] + report["rows_dropped"]
  return {k: v[keep] for k, v in cols.items()}, report


def govern(schema: Schema, splits: Dict[str, Columns]) -> Tuple[Dict[str, Columns], dict]:
  """Cleans every split with fills fitted on `train`; returns clean splits and the full data report."""
  fills = fit_fills(schema, splits["train"])
  clean_splits, report = {}, {"policy": [dataclasses.asdict(r) for r in schema.rules],
                              "dedup_key": schema.dedup_key, "fitted_on_train": fills, "splits": {}}
  for name, cols in splits.items():
    clean_splits[name], report["splits"][name] = clean(schema, cols, fills)
  return clean_splits, report
