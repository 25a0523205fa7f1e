"""ValueCounts: exact counts and medians of values added block by block, whatever the flush size."""

import numpy as np
import pytest

from rec_jax.data.streaming.value_counts import ValueCounts


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 10001])
@pytest.mark.parametrize("flush", [1, 100, 10_000_000])
def test_counts_and_median_equal_numpy(n, flush):
  x = np.random.default_rng(n).integers(-20, 50, n).astype(np.float32)
  counts = ValueCounts(flush_values=flush)
  for block in np.array_split(x, 13):
    counts.add(block)
  values, numbers = counts.result()
  distinct, expected = np.unique(x, return_counts=True)
  np.testing.assert_array_equal(values, distinct)
  np.testing.assert_array_equal(numbers, expected)
  assert counts.median() == float(np.median(x.astype(np.float64)))
  assert counts.total() == n


def test_strings_and_nothing_added():
  counts = ValueCounts(flush_values=2)
  for block in (np.array(["b", "a"]), np.array(["a"]), np.array([], dtype=str), np.array(["c", "a"])):
    counts.add(block)
  values, numbers = counts.result()
  assert values.tolist() == ["a", "b", "c"] and numbers.tolist() == [3, 1, 1]
  empty = ValueCounts()
  assert np.isnan(empty.median()) and empty.total() == 0
