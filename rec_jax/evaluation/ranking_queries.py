"""The queries of a ranking evaluation (`eval.ranking.unit`) and what each excludes (`eval.ranking.exclude`).

Units:
- `interaction`: every positive row of the split is a query whose one relevant item is the row's item (the
  sequential-recommendation form; under leave-one-out there is one per user);
- `user`: one query per user with positives in the split, relevant = all of them (RecBole's full ranking with
  Recall@K); the query is the user's earliest positive row of the split, so its history is what was known before
  the split.
Exclusions (the relevant items themselves are never excluded):
- `history`: the items in the query row's history (`features.history_length` most recent positives);
- `seen`: every item the user interacted with in the earlier splits (train; train and validation for test),
  however long ago: "each user's training items";
- `none`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UserError

UNITS = ("interaction", "user")
EXCLUSIONS = ("history", "seen", "none")


@dataclasses.dataclass
class RankingQueries:
  rows: np.ndarray        # [queries] row index into the split
  relevant: ItemSets      # per query, the catalogue keys of its relevant items


def ranking_queries(rows, unit: str) -> RankingQueries:
  if unit not in UNITS:
    raise UserError(f"eval.ranking.unit={unit!r}; valid: {', '.join(UNITS)}")
  positive = np.flatnonzero(rows.label > 0)
  if unit == "interaction":
    return RankingQueries(positive, ItemSets.from_pairs(np.arange(len(positive)), rows.item_key[positive],
                                                        len(positive)))
  if rows.user_key is None:
    raise UserError("eval.ranking.unit=user needs rows with user_key (set by data/prepare.py)")
  users = rows.user_key[positive]
  distinct, first, inverse = np.unique(users, return_index=True, return_inverse=True)
  return RankingQueries(positive[first], ItemSets.from_pairs(inverse, rows.item_key[positive], len(distinct)))


def check_exclusion(exclude: str) -> str:
  if exclude not in EXCLUSIONS:
    raise UserError(f"eval.ranking.exclude={exclude!r}; valid: {', '.join(EXCLUSIONS)}")
  return exclude
