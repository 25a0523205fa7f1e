"""The training rows of the ranking tasks: clicked rows with logQ, the uniform negative pool and its per-step
draws."""

from __future__ import annotations

import numpy as np

from rec_jax.batch import Batch, FeatureArrays
from rec_jax.tasks.clicked_rows import clicked_rows, negative_batch, negative_pool
from tests.batches import make_rows


def _arrays(item_ids, labels):
  rows = make_rows(item_id=np.array(item_ids, np.int32), label=np.array(labels, np.float32),
                   user_id=np.arange(len(item_ids), dtype=np.int32))
  return FeatureArrays(rows)


def test_clicked_rows_carry_log_of_click_share():
  train = clicked_rows(_arrays([2, 3, 2, 4, 2], [1, 1, 1, 0, 1]))
  np.testing.assert_array_equal(train.rows.item_id, [2, 3, 2, 2])
  np.testing.assert_allclose(train.rows.item_log_q, np.log([0.75, 0.25, 0.75, 0.75]), rtol=1e-6)


def test_negative_pool_is_uniform_over_items_and_draws_are_per_step():
  pool = negative_pool(_arrays([5, 3, 5, 3, 7], [1, 1, 1, 1, 1]))
  np.testing.assert_array_equal(pool.rows.item_id, [3, 5, 7])
  np.testing.assert_allclose(pool.rows.item_log_q, np.log(1 / 3))
  first, again, other = (negative_batch(pool, s, 16, seed=0) for s in (4, 4, 5))
  # A batch of 16 pool rows with their columns and weights: the extra negatives a retrieval step carries.
  assert isinstance(first, Batch) and len(first) == 16 and first.negatives is None
  assert {first.item_id.shape, first.label.shape, first.user_id.shape, first.item_log_q.shape,
          first.weight.shape} == {(16,)}
  np.testing.assert_array_equal(first.item_id, again.item_id)
  assert not np.array_equal(first.item_id, other.item_id)
