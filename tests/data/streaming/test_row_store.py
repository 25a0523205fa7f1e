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
  expected, stored = _concat(parts), StoredRows(path, resident_mb=1)
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


def test_touched_pages_are_released_at_the_budget(tmp_path, monkeypatch):
  path = str(tmp_path / "train")
  writer = RowWriter(path, CATEGORICAL, NUMERIC, False)
  writer.append(_rows(5000, 0, False))
  writer.close()
  stored = StoredRows(path, resident_mb=1)
  released, real = [], stored.release

  def release():
    released.append(stored._touched)   # pylint: disable=protected-access
    real()
  monkeypatch.setattr(stored, "release", release)
  for step in range(100):
    stored.take(np.random.default_rng(step).integers(0, 5000, 64))
  # 64 rows x 4096-byte pages per take: the 1 MB budget is reached every 4 takes.
  assert len(released) == 25 and all(t >= 1 << 20 for t in released)


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
