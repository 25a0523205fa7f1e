"""The row store: what RowWriter appends, StoredRows gives back (random and contiguous takes, whole columns), with
its touched pages released at the budget; a damaged store is one error naming it."""

import os

import numpy as np
import pytest

from rec_jax.batch import Rows
from rec_jax.data.streaming.row_store import RowWriter, StoredRows
from rec_jax.errors import UserError

CATEGORICAL, NUMERIC = ("C1", "C2", "C3"), ("I1", "I2")


def _rows(n, seed, oracle=True):
  r = np.random.default_rng(seed)
  return Rows(label=r.integers(0, 2, n).astype(np.float32), user_id=r.integers(0, 9, n).astype(np.int32),
              item_id=r.integers(0, 9, n).astype(np.int32), history=np.zeros((n, 0), np.int32),
              categorical={c: r.integers(0, 1000, n).astype(np.int32) for c in CATEGORICAL},
              numeric={c: r.normal(size=n).astype(np.float32) for c in NUMERIC},
              item_is_cold=r.random(n) < 0.3, rank_group=r.integers(0, 5, n).astype(np.int32),
              oracle=r.random(n).astype(np.float32) if oracle else None)


def _concat(parts):
  import jax
  return jax.tree.map(lambda *a: np.concatenate(a), *parts)


@pytest.mark.parametrize("oracle", [True, False])
def test_written_rows_read_back(tmp_path, oracle):
  path = str(tmp_path / "train")
  writer = RowWriter(path, CATEGORICAL, NUMERIC, oracle)
  parts = [_rows(n, seed, oracle) for seed, n in enumerate((100, 1, 257))]
  for part in parts:
    writer.append(part)
  assert not os.path.exists(path)   # complete only once closed
  assert writer.close()["rows"] == 358
  expected, stored = _concat(parts), StoredRows(path)
  assert len(stored) == 358 and stored.text_indices() == {} and stored.user_key is None
  for index in (np.array([357, 0, 5, 5, 200]), np.arange(10, 300), np.arange(358) % 3 == 0):
    got, want = stored.take(index), expected.take(index)
    for name in ("label", "user_id", "item_id", "item_is_cold", "rank_group", "oracle"):
      a, b = getattr(got, name), getattr(want, name)
      assert (a is None) == (b is None) and (a is None or (a.dtype == b.dtype and np.array_equal(a, b))), name
    for group in ("categorical", "numeric"):
      assert {k: v.tolist() for k, v in getattr(got, group).items()} == \
          {k: v.tolist() for k, v in getattr(want, group).items()}
    assert got.history.shape == (len(got), 0)
  np.testing.assert_array_equal(stored.label, expected.label)
  np.testing.assert_array_equal(stored.rank_group, expected.rank_group)
  np.testing.assert_array_equal(stored.item_is_cold, expected.item_is_cold)
  assert (stored.oracle is None) == (not oracle)


def test_rows_outside_the_store_and_a_store_cut_short_while_in_use(tmp_path):
  path = str(tmp_path / "train")
  writer = RowWriter(path, CATEGORICAL, NUMERIC, False)
  writer.append(_rows(100, 0, False))
  writer.close()
  stored = StoredRows(path)
  with pytest.raises(IndexError, match="rows 5..100 of a store of 100"):
    stored.take([5, 100])
  assert len(stored.take([])) == 0
  os.truncate(path, 50 * stored.dtype.itemsize)
  with pytest.raises(UserError, match="cut short"):
    stored.take(np.arange(40, 60))


def test_a_damaged_store_is_named(tmp_path):
  path = str(tmp_path / "train")
  writer = RowWriter(path, CATEGORICAL, NUMERIC, False)
  writer.append(_rows(10, 0, False))
  writer.close()
  with open(path, "ab") as f:
    f.write(b"x")
  with pytest.raises(UserError, match="train has .* bytes, not the 10 rows"):
    StoredRows(path)
  with open(path + ".json", "w") as f:
    f.write("{")
  with pytest.raises(UserError, match="row store .* is damaged"):
    StoredRows(path)
