"""A split's transformed rows on disk, one fixed-width record per row (`RowWriter` writes, `StoredRows` reads).

Training draws rows in a random order, so the store is row-major: a batch of 4096 random rows is 4096 reads of one
record each, where a file per column would be one read per row and column (40x more for Criteo). Rows are read
with positioned reads (`os.pread`, the file opened once, read-ahead off), not through a memory map: a map makes
every page it has touched part of the process's resident memory, and Linux maps a whole page-cache folio (up to
megabytes) around each faulting row, so a 6 GB store was resident after a few hundred batches. Read this way, the
file lives in the kernel's page cache (shared, reclaimable, no I/O once cached) and the process holds only the
batches it reads: its resident memory does not grow with the data.

`StoredRows` stands where data/prepare.py puts a `batch.Rows` in memory: `take(index)` gives the `Rows` of those
rows (what the batch pipeline gathers), and the evaluation's whole-split columns (`label`, `rank_group`,
`item_is_cold`, `oracle`) are read when asked for. It holds tabular rows only: no histories, texts, queries or
catalogue keys (data/streaming/prepare.py refuses configs that need them).
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from typing import Dict, Optional, Sequence

import numpy as np

from rec_jax.batch import Rows
from rec_jax.data.fingerprint import file_digest
from rec_jax.errors import UserError



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
    self._sha256 = hashlib.sha256()   # of the records, checked when a resumed run reads the store (`store_problem`)
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
    data = records.tobytes()
    self._file.write(data)
    self._sha256.update(data)
    self.rows += len(rows)

  def close(self) -> dict:
    self._file.close()
    manifest = {"rows": self.rows, "categorical": self.categorical, "numeric": self.numeric, "oracle": self.oracle,
                "record_bytes": self.dtype.itemsize, "sha256": self._sha256.hexdigest()}
    with open(self.path + ".json.tmp", "w") as f:
      json.dump(manifest, f)
    os.replace(self.path + ".partial", self.path)
    os.replace(self.path + ".json.tmp", self.path + ".json")
    return manifest

  def abort(self) -> None:
    self._file.close()
    if os.path.exists(self.path + ".partial"):
      os.remove(self.path + ".partial")


def store_problem(path: str) -> Optional[str]:
  """What is wrong with the store `path` written by `RowWriter` (its manifest unreadable, its size or its sha256
  not its manifest's: a file cut short, bit-flipped or replaced), or None when it is intact. Reads the whole file."""
  try:
    with open(path + ".json") as f:
      manifest = json.load(f)
    dtype = record_dtype(manifest["categorical"], manifest["numeric"], manifest["oracle"])
    rows, expected = int(manifest["rows"]), manifest["sha256"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    return f"its manifest {path}.json is missing or damaged ({e})"
  try:
    size, digest = os.path.getsize(path), file_digest(path)
  except OSError as e:
    return f"{path} cannot be read ({e.strerror or e})"
  if size != rows * dtype.itemsize:
    return f"{path} has {size} bytes, not the {rows} rows x {dtype.itemsize} bytes of its manifest"
  if digest != expected:
    return f"{path} does not hold the bytes written (its sha256 differs from its manifest's)"
  return None


class StoredRows:
  """The rows of a store written by `RowWriter`, read with positioned reads (see the module docstring)."""

  def __init__(self, path: str):
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
    self._fd = os.open(path, os.O_RDONLY)
    weakref.finalize(self, os.close, self._fd)
    if hasattr(os, "posix_fadvise"):
      os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)   # no read-ahead around a batch's rows

  def __len__(self) -> int:
    return self.num_rows

  # --- reading -------------------------------------------------------------------------------------------------
  def _range(self, start: int, stop: int) -> np.ndarray:
    size = self.dtype.itemsize
    data = os.pread(self._fd, (stop - start) * size, start * size)
    if len(data) != (stop - start) * size:
      raise UserError(f"the row store {self.path} was cut short while in use: delete its directory to prepare the "
                      "data again")
    return np.frombuffer(data, self.dtype)

  def _records(self, index) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype == bool:
      index = np.flatnonzero(index)
    if not len(index):
      return np.zeros(0, self.dtype)
    first, last = int(index.min()), int(index.max())
    if last >= self.num_rows or first < 0:
      raise IndexError(f"rows {first}..{last} of a store of {self.num_rows}")
    if len(index) == last - first + 1 and (np.diff(index) == 1).all():
      return self._range(first, last + 1)   # a range: one read
    size, fd = self.dtype.itemsize, self._fd
    data = b"".join([os.pread(fd, size, i * size) for i in index.tolist()])
    return np.frombuffer(data, self.dtype)

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

  def column(self, field: str, chunk: int = 1 << 18) -> np.ndarray:
    """One field of every row, read a chunk of rows at a time."""
    out = np.empty((self.num_rows,) + self.dtype[field].shape, self.dtype[field].base)
    for start in range(0, self.num_rows, chunk):
      stop = min(start + chunk, self.num_rows)
      out[start:stop] = self._range(start, stop)[field]
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
