"""The duplicate policy of the real formats (`data.options.duplicates`).

An exact duplicate is an interaction row identical to an earlier row of the same stored split in every stored
column except `order` (the line order, which tells two copies apart but is not data). Official dumps list some
interactions twice (Amazon's 2014/2018 files; concatenated or re-exported files), and a repeated test interaction
inflates leave-one-out metrics several-fold, so:
- `drop` (the default): the later copies are dropped, counted as the policy drop `duplicate` in the split's account
  of the source report (`rows_read == rows_kept + rows_dropped` still holds);
- `keep`: they stay, counted in the report's notes as `duplicates_kept` ({split: rows}).
The first copy (in file order) is the one kept. A format whose rows carry no time of their own (the line order is
the time: sequence_txt, user_sequences, criteo) has no exact duplicates: two equal rows at different positions are
two events; such a format says so in its docstring and counts what it keeps (`consecutive_repeats`).
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from rec_jax.data.formats.source_report import SourceReport, SplitAccount
from rec_jax.errors import UserError

POLICIES = ("drop", "keep")
# Columns that are not data: two copies of one interaction differ in them.
NOT_COMPARED = ("order",)


def check_policy(policy: str) -> str:
  if policy not in POLICIES:
    raise UserError(f"data.options.duplicates={policy!r}; valid: {', '.join(POLICIES)}")
  return policy


def _codes(values: np.ndarray) -> np.ndarray:
  """Integer codes of a column: equal values, equal codes (lists compared as tuples)."""
  if values.dtype != object:
    if values.dtype.kind == "f":   # by bit pattern: NaN equals NaN, so two copies with a missing value match
      values = values.view(np.int32 if values.dtype.itemsize == 4 else np.int64)
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)
  seq = values.tolist()
  if seq and isinstance(seq[0], (list, np.ndarray)):   # a list column (history): every entry is a list
    seq = [tuple(v) for v in seq]
  index = {v: i for i, v in enumerate(dict.fromkeys(seq))}   # dict.fromkeys: the distinct values, at C speed
  return np.fromiter(map(index.__getitem__, seq), dtype=np.int64, count=len(seq))


def repeats(rows: Dict[str, np.ndarray], not_compared: Sequence[str] = NOT_COMPARED) -> np.ndarray:
  """True for each row equal to an earlier row in every column but `not_compared`."""
  n = len(next(iter(rows.values()))) if rows else 0
  if n < 2:
    return np.zeros(n, dtype=bool)
  key = None
  for name in sorted(rows):
    if name in not_compared:
      continue
    codes = _codes(rows[name])
    # One code per distinct combination so far (renumbered, so it stays below n and never overflows).
    key = codes if key is None else np.unique(key * (int(codes.max()) + 1) + codes,
                                              return_inverse=True)[1].reshape(-1)
  out = np.ones(n, dtype=bool)
  out[np.unique(key, return_index=True)[1]] = False   # the first row of each combination (a stable sort)
  return out


def apply(rows: Dict[str, np.ndarray], policy: str, account: SplitAccount, report: SourceReport,
          split: str) -> Dict[str, np.ndarray]:
  """`rows` of stored split `split` under the duplicate `policy`, counted in `account` (drop) or the notes (keep)."""
  dup = repeats(rows)
  if check_policy(policy) == "keep":
    report.notes.setdefault("duplicates_kept", {})[split] = int(dup.sum())
    return rows
  account.drop("duplicate", int(dup.sum()))
  return {k: v[~dup] for k, v in rows.items()}


def consecutive_repeats(users: Sequence, items: Sequence) -> int:
  """Rows repeating the previous row's user and item (kept: with no time, they are not provably duplicates)."""
  users, items = np.asarray(users, dtype=object), np.asarray(items, dtype=object)
  if len(users) < 2:
    return 0
  return int(((users[1:] == users[:-1]) & (items[1:] == items[:-1])).sum())
