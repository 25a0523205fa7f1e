"""Behaviour histories of an interaction log: for each row, the user's earlier positive items, most recent last.

A row's history holds only what was known when it happened and what its split may see: the positive rows of the
same user before it in time (`timestamp`, ties by `order`) from its own split or an earlier one in the order
train < validation < test. So a training row never sees a validation or test interaction, even under a random
split, while a test row sees the user's whole past (under leave-one-out the test row's history ends with the
validation item, as in SASRec's evaluation). At most `length` items are kept per row.
"""

from __future__ import annotations

import numpy as np

from rec_jax.data.splits import chronological


def prior_histories(user: np.ndarray, item: np.ndarray, timestamp: np.ndarray, order: np.ndarray,
                    positive: np.ndarray, split: np.ndarray, length: int) -> np.ndarray:
  """[n] object array of lists of item ids (see the module docstring); split: 0/1/2 per row."""
  out = np.empty(len(user), dtype=object)
  if not length:   # (Criteo: one constant "user" whose history would be the whole log)
    out[:] = [[] for _ in range(len(user))]
    return out
  idx, starts = chronological(user, timestamp, order)
  for start, end in zip(starts, np.r_[starts[1:], len(idx)]):
    # seen[s]: the user's positive items so far that a row of split s may see.
    seen = ([], [], [])
    for r in idx[start:end]:
      s = int(split[r])
      out[r] = seen[s][-length:] if length else []
      if positive[r]:
        for visible in range(s, 3):
          seen[visible].append(item[r])
  return out
