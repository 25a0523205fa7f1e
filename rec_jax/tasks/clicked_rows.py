"""Training rows of the ranking tasks (retrieval, next_item): clicked rows, each item's sampling probability, and
the pool of extra uniform negatives.

In-batch negatives are the other clicked items of the batch, so an item is a negative about as often as it is
clicked: its sampling probability q is its share of the train clicks (`Rows.item_log_q` = log q), which the
retrieval loss subtracts from its logits (logQ correction, Yi et al. 2019). Extra negatives are drawn uniformly
over the distinct train items (q = 1 / their number) and carried as the batch's `negatives`.
"""

from __future__ import annotations

import numpy as np

from rec_jax.batch import Batch, FeatureArrays
from rec_jax.data.pipeline import WHOLE, BatchShare, gather


def clicked_rows(arrays: FeatureArrays) -> FeatureArrays:
  """The rows with a positive label, with `item_log_q`: log of each item's share of these rows."""
  rows = arrays.rows.take(arrays.rows.label > 0)
  ids, inverse, counts = np.unique(rows.item_id, return_inverse=True, return_counts=True)
  return FeatureArrays(rows.replace(item_log_q=np.log(counts / counts.sum())[inverse].astype(np.float32)),
                       arrays.texts)


def negative_pool(arrays: FeatureArrays) -> FeatureArrays:
  """One row per distinct item id of `arrays` (its first row), `item_log_q` = log(1 / number of items)."""
  _, first = np.unique(arrays.rows.item_id, return_index=True)
  rows = arrays.rows.take(first)
  return FeatureArrays(rows.replace(item_log_q=np.full(len(first), -np.log(len(first)), np.float32)), arrays.texts)


def negative_batch(pool: FeatureArrays, step: int, num: int, seed: int, share: BatchShare = WHOLE) -> Batch:
  """`num` pool rows drawn uniformly with replacement for global step `step` (a pure function of seed and step, so
  resuming draws the same negatives); this process's `share` of them."""
  index = np.random.default_rng([seed, step, 7]).integers(len(pool), size=num)
  return gather(pool, index, np.ones(num, np.float32), share)
