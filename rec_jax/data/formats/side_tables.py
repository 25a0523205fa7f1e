"""Joining users' and items' side features onto interaction rows, with the declared policy for an id that its
user or item file lacks (`data.options.unknown_ids`):
- `drop`: the row is dropped and counted (`unknown_user` / `unknown_item` in the source report);
- `oov`: the row is kept, the id is replaced by `<oov>` (which no vocabulary admits, so it embeds as
  out-of-vocabulary), its side features are missing (imputed by governance), counted under `replaced_by_oov`.
Formats without a user (or item) file skip the join for that side.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from rec_jax.data.formats.source_report import SplitAccount
from rec_jax.data.vocab import OOV_TOKEN
from rec_jax.errors import UserError

UNKNOWN_ID_POLICIES = ("drop", "oov")


def check_policy(policy: str) -> str:
  if policy not in UNKNOWN_ID_POLICIES:
    raise UserError(f"data.options.unknown_ids={policy!r}; valid: {', '.join(UNKNOWN_ID_POLICIES)}")
  return policy


def join(rows: Dict[str, np.ndarray], key: str, table: Optional[Dict[str, Sequence]], names: Sequence[str],
         policy: str, account: SplitAccount, side: str,
         missing: Optional[Sequence] = None) -> Dict[str, np.ndarray]:
  """Adds columns `names` looked up in `table` (id -> values) by `rows[key]`; applies the unknown-id policy and
  counts it in the split's `account`. `missing`: the value of each column for an unknown id ("" by default; NaN
  for number columns)."""
  if table is None:
    return rows
  ids = rows[key]
  known = np.array([i in table for i in ids], dtype=bool)
  unknown = int((~known).sum())
  if policy == "drop":
    account.dropped[f"unknown_{side}"] = account.dropped.get(f"unknown_{side}", 0) + unknown
    rows = {k: v[known] for k, v in rows.items()}
    ids, known = rows[key], np.ones(int(known.sum()), dtype=bool)
  elif unknown:
    account.replaced[f"unknown_{side}"] = account.replaced.get(f"unknown_{side}", 0) + unknown
    rows = dict(rows)
    ids = ids.copy()
    ids[~known] = OOV_TOKEN
    rows[key] = ids
  missing = tuple(missing) if missing is not None else tuple("" for _ in names)
  values = [table.get(i, missing) if k else missing for i, k in zip(ids, known)]
  for j, name in enumerate(names):
    column = np.empty(len(values), dtype=object)
    column[:] = [v[j] for v in values]
    rows[name] = column
  return rows
