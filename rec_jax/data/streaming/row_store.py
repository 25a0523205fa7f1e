"""A split's transformed rows on disk, one fixed-width record per row (`RowWriter` writes, `StoredRows` reads).

Training draws rows in a random order, so the store is row-major: a batch of 4096 random rows touches about 4096
pages of the file (one per row), where a file per column would touch one per row and column (40x more for
Criteo). The records are read through a read-only memory map; the pages a process has touched are handed back to
the kernel (madvise DONTNEED: they stay in the page cache, so reading them again costs no I/O) whenever they add up
to `resident_mb`, so the process's resident memory stays bounded by that, not by the split's size.

`StoredRows` stands where data/prepare.py puts a `batch.Rows` in memory: `take(index)` gives the `Rows` of those
rows (what the batch pipeline gathers), and the evaluation's whole-split columns (`label`, `rank_group`,
`item_is_cold`, `oracle`) are read when asked for. It holds tabular rows only: no histories, texts, queries or
catalogue keys (data/streaming/prepare.py refuses configs that need them).
"""

from __future__ import annotations

import json
import mmap
import os
from typing import Dict, Optional, Sequence

import numpy as np

from rec_jax.batch import Rows
from rec_jax.errors import UserError

PAGE = mmap.PAGESIZE


def record_dtype(categorical: Sequence[str], numeric: Sequence[str], oracle: bool) -> np.dtype:
  fields = [("label", "<f4"), ("user_id", "<i4"), ("item_id", "<i4"), ("rank_group", "<i4"), ("item_is_cold", "u1")]
  if categorical:
    fields.append(("categorical", "<i4", (len(categorical),)))
  if numeric:
    fields.append(("numeric", "<f4", (len(numeric),)))
  if oracle:
    fields.append(("oracle", "<f4"))
  return np.dtype(fields)


class RowWriter:
  """Appends `Rows` blocks to `path` (as `path.partial` until `close` renames it, with its manifest
  `path.json`: a store is complete or absent)."""

  def __init__(self, path: str, categorical: Sequence[str], numeric: Sequence[str], oracle: bool):
    self.path, self.categorical, self.numeric, self.oracle = path, list(categorical), list(numeric), oracle
    self.dtype = record_dtype(categorical, numeric, oracle)
    self.rows = 0
    self._file = open(path + ".partial", "wb")

  def append(self, rows: Rows) -> None:
    records = np.zeros(len(rows), self.dtype)
    records["label"], records["user_id"], records["item_id"] = rows.label, rows.user_id, rows.item_id
    records["rank_group"], records["item_is_cold"] = rows.rank_group, rows.item_is_cold
    if self.categorical:
      records["categorical"] = np.stack([rows.categorical[name] for name in self.categorical], axis=1)
    if self.numeric:
      records["numeric"] = np.stack([rows.numeric[name] for name in self.numeric], axis=1)
    if self.oracle:
      records["oracle"] = rows.oracle
    self._file.write(records.tobytes())
    self.rows += len(rows)

  def close(self) -> dict:
    self._file.close()
    manifest = {"rows": self.rows, "categorical": self.categorical, "numeric": self.numeric, "oracle": self.oracle,
                "record_bytes": self.dtype.itemsize}
    with open(self.path + ".json.tmp", "w") as f:
      json.dump(manifest, f)
    os.replace(self.path + ".partial", self.path)
    os.replace(self.path + ".json.tmp", self.path + ".json")
    return manifest

  def abort(self) -> None:
    self._file.close()
    if os.path.exists(self.path + ".partial"):
      os.remove(self.path + ".partial")


class StoredRows:
  """The rows of a store written by `RowWriter`, read through a memory map (see the module docstring)."""

  def __init__(self, path: str, resident_mb: int = 1024):
    try:
      with open(path + ".json") as f:
        manifest = json.load(f)
      self.categorical_names, self.numeric_names = manifest["categorical"], manifest["numeric"]
      self.num_rows = int(manifest["rows"])
      dtype = record_dtype(self.categorical_names, self.numeric_names, manifest["oracle"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
      raise UserError(f"the row store {path} is damaged ({e}); delete its directory to prepare the data again") from None
    size = os.path.getsize(path) if os.path.exists(path) else -1
    if size != self.num_rows * dtype.itemsize:
      raise UserError(f"the row store {path} has {size} bytes, not the {self.num_rows} rows x {dtype.itemsize} bytes "
                      "of its manifest; delete its directory to prepare the data again")
    self.path, self.dtype, self.has_oracle = path, dtype, bool(manifest["oracle"])
    self.resident_bytes = max(int(resident_mb), 1) << 20
    self._touched = 0
    self._map = np.memmap(path, dtype, mode="r", shape=(self.num_rows,)) if self.num_rows else np.zeros(0, dtype)

  def __len__(self) -> int:
    return self.num_rows

  # --- reading -------------------------------------------------------------------------------------------------
  def _records(self, index) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype == bool:
      index = np.flatnonzero(index)
    if len(index) and len(index) == int(index[-1]) - int(index[0]) + 1 and (np.diff(index) == 1).all():
      out = np.array(self._map[int(index[0]):int(index[-1]) + 1])   # a range: one sequential read
      touched = out.nbytes
    else:
      out = self._map[index]
      touched = len(index) * PAGE
    self._touch(touched)
    return out

  def _touch(self, nbytes: int) -> None:
    self._touched += nbytes
    if self._touched >= self.resident_bytes:
      self.release()

  def release(self) -> None:
    """Hands the touched pages of the map back to the kernel (they stay in the page cache)."""
    self._touched = 0
    raw = getattr(self._map, "_mmap", None)
    if raw is not None and hasattr(raw, "madvise"):
      raw.madvise(mmap.MADV_DONTNEED)

  def take(self, index) -> Rows:
    records = self._records(index)
    n = len(records)
    categorical = {name: np.ascontiguousarray(records["categorical"][:, k])
                   for k, name in enumerate(self.categorical_names)}
    numeric = {name: np.ascontiguousarray(records["numeric"][:, k]) for k, name in enumerate(self.numeric_names)}
    return Rows(label=np.ascontiguousarray(records["label"]), user_id=np.ascontiguousarray(records["user_id"]),
                item_id=np.ascontiguousarray(records["item_id"]), history=np.zeros((n, 0), np.int32),
                categorical=categorical, numeric=numeric,
                item_is_cold=records["item_is_cold"].astype(bool),
                rank_group=np.ascontiguousarray(records["rank_group"]),
                oracle=np.ascontiguousarray(records["oracle"]) if self.has_oracle else None)

  def column(self, field: str, chunk: int = 1 << 20) -> np.ndarray:
    """One field of every row, read a chunk of rows at a time (pages released as they add up)."""
    out = np.empty((self.num_rows,) + self.dtype[field].shape, self.dtype[field].base)
    for start in range(0, self.num_rows, chunk):
      part = np.array(self._map[start:start + chunk][field])
      out[start:start + len(part)] = part
      self._touch(min(chunk, self.num_rows - start) * self.dtype.itemsize)
    return out

  # --- the whole-split columns of `Rows` the evaluation reads ----------------------------------------------------
  @property
  def label(self) -> np.ndarray:
    return self.column("label")

  @property
  def rank_group(self) -> np.ndarray:
    return self.column("rank_group")

  @property
  def item_is_cold(self) -> np.ndarray:
    return self.column("item_is_cold").astype(bool)

  @property
  def oracle(self) -> Optional[np.ndarray]:
    return self.column("oracle") if self.has_oracle else None

  @property
  def user_id(self) -> np.ndarray:
    return self.column("user_id")

  @property
  def item_id(self) -> np.ndarray:
    return self.column("item_id")

  @property
  def categorical(self) -> Dict[str, np.ndarray]:
    every = self.column("categorical") if self.categorical_names else None
    return {name: np.ascontiguousarray(every[:, k]) for k, name in enumerate(self.categorical_names)}

  @property
  def numeric(self) -> Dict[str, np.ndarray]:
    every = self.column("numeric") if self.numeric_names else None
    return {name: np.ascontiguousarray(every[:, k]) for k, name in enumerate(self.numeric_names)}

  @property
  def history(self) -> np.ndarray:
    return np.zeros((self.num_rows, 0), np.int32)

  # Fields of `Rows` a store never has (tabular rows only).
  text_index = query_index = item_key = user_key = item_log_q = None

  def text_indices(self) -> Dict[str, np.ndarray]:
    return {}
