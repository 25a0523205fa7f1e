"""The item index: exact top-K against a brute-force numpy ranking, across block boundaries, with exclusions,
after growth past its capacity, and with fewer eligible items than K."""

import numpy as np
import pytest

from rec_jax.errors import UserError
from rec_jax.serving.item_index import ItemIndex


def brute_force(vectors, queries, k, exclude):
  scores = queries @ vectors.T
  for i, e in enumerate(exclude):
    scores[i, np.asarray(e, np.int64)] = -np.inf
  rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return np.take_along_axis(scores, rows, axis=1), rows


@pytest.mark.parametrize("items,block", [(1000, 128), (300, 1024), (5, 64)])
def test_top_k_is_exact_with_exclusions(items, block):
  rng = np.random.default_rng(items)
  vectors = rng.normal(size=(items, 16)).astype(np.float32)
  index = ItemIndex(vectors, block=block)
  queries = rng.normal(size=(5, 16)).astype(np.float32)
  # Exclusions in several blocks, and one list empty.
  exclude = [rng.choice(items, min(items - 1, 40), replace=False) for _ in range(4)] + [np.zeros(0, np.int64)]
  k = min(10, items)
  scores, rows = index.top_k(queries, k, exclude)
  want_scores, want_rows = brute_force(vectors, queries, k, exclude)
  finite = np.isfinite(want_scores)
  np.testing.assert_array_equal(rows[finite], want_rows[finite])
  np.testing.assert_allclose(scores[finite], want_scores[finite], rtol=1e-5, atol=1e-5)
  for i, e in enumerate(exclude):
    assert not set(rows[i][np.isfinite(scores[i])]) & set(e.tolist())
  assert not np.isfinite(scores[~finite]).any()   # fewer eligible items than k: -inf, never a padding row


def test_items_added_and_replaced_past_the_capacity():
  rng = np.random.default_rng(0)
  vectors = rng.normal(size=(100, 8)).astype(np.float32)
  index = ItemIndex(vectors, block=64)
  assert index.capacity == 128
  extra = rng.normal(size=(60, 8)).astype(np.float32)
  index.set(np.arange(100, 160), extra)
  assert index.count == 160 and index.capacity == 256
  index.set([3], extra[:1] * 0)   # replaced
  everything = np.concatenate([vectors, extra])
  everything[3] = 0
  query = rng.normal(size=(2, 8)).astype(np.float32)
  scores, rows = index.top_k(query, 160, [[], []])
  _, want = brute_force(everything, query, 160, [[], []])
  np.testing.assert_array_equal(rows, want)
  with pytest.raises(UserError, match="gap"):
    index.set([200], extra[:1])
