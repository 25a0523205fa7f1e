"""TFDS builders of the real datasets (TF-free: array_record, read with `as_data_source()`).

One builder class per format (`Movielens`, `AmazonReviews`, ...), all this base: the builder config carries the
format's options, the files it reads and a fingerprint of them (name, size, mtime), so a changed file or option is
a new dataset version in `data.data_dir` rather than a stale cache. Files come from `data.path` (TFDS's manual_dir)
or, where the format can, from its official download URL. Examples are row groups of up to `ROWS_PER_EXAMPLE`
rows stored as columns (decoding one TFDS example per row would dominate reading, see the synthetic shop's
builder); list columns are stored flat with per-row lengths. The source report (formats/source_report.py) is
stored in the dataset's TFDS metadata (`metadata.json`).

A builder with `BYTES_ENCODED` (Criteo's: 42 numeric columns, millions of rows) stores its numeric columns as raw
bytes (TFDS's `Encoding.BYTES`, one value per column and row group) instead of int64/float lists: TFDS hands a
list column to the protobuf one numpy scalar at a time (~190 ns a value; 45 ms for a 4096-row group of Criteo's
columns, 1 ms as bytes). Its string columns are stored as their distinct values (`<name>__values`) and each row's
index among them (`<name>__codes`, raw bytes): TFDS converts a string list value by value (~2.5 us each; Criteo's
constant ids were half of the build), and reading indexes the decoded values instead of decoding every row's.
The other formats keep the list layout, so their stored datasets stay readable (`unpack` reads both).

Nothing unusable is stored: the files are checked (formats/source_report.py's `budget_problem`: empty, only a
header, no line readable, over `data.max_bad_fraction`) before TFDS writes a row group, or for a streamed split
(Criteo) once its file is read, before TFDS finishes the split; so is every split's row count (a split with no rows
left, e.g. every rating's user missing from the user file, is named with what dropped its rows). TFDS writes into
an `incomplete.*` directory that it removes on an exception, so a failed build leaves no dataset that a re-run
would read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds

from rec_jax.data.formats.columns import STORAGE, check_columns
from rec_jax.data.formats.source_report import SourceReport, budget_problem
from rec_jax.data.tfds_prepare import LocalBuild, decode_strings, prepare_once, read_row_groups
from rec_jax.errors import UserError

ROWS_PER_EXAMPLE = 4096
# Row groups are written in file order (`disable_shuffling`), under their index shifted to the top of TFDS's 128-bit
# key range: past 1 GB a split spills to 1000 bucket files by key range (tfds_prepare.py's `tf_free_spill`) and each
# bucket is sorted in memory, so the keys must spread over the buckets (unshifted, every group would land in the
# first): 2**20 groups (4.3 billion rows) fill the range, ~1 GB of examples per bucket at most.
KEY_SHIFT = 108
LENGTH_SUFFIX, ITEMS_SUFFIX = "__length", "__items"
VALUES_SUFFIX, CODES_SUFFIX = "__values", "__codes"   # a string column of a BYTES_ENCODED builder
Columns = Dict[str, np.ndarray]


@dataclasses.dataclass
class TableConfig(tfds.core.BuilderConfig):
  format_name: str = ""
  files: Tuple[Tuple[str, str], ...] = ()      # (role, path); empty: download
  options: str = "{}"                          # the format's options, JSON
  columns: Tuple[Tuple[str, str], ...] = ()    # (column, kind)


def _fingerprint(files: Dict[str, str]) -> list:
  out = []
  for role, path in sorted(files.items()):
    st = os.stat(path)
    out.append([role, os.path.abspath(path), st.st_size, st.st_mtime_ns])
  return out


def table_config(format_name: str, files: Dict[str, str], options: dict, columns: Dict[str, str]) -> TableConfig:
  """A config named by a digest of everything the stored data depends on."""
  check_columns(columns)
  key = json.dumps([format_name, _fingerprint(files), options, sorted(columns.items())], sort_keys=True)
  digest = hashlib.sha1(key.encode()).hexdigest()[:12]
  return TableConfig(name=f"{format_name}_{digest}", description=key, format_name=format_name,
                     files=tuple(sorted(files.items())), options=json.dumps(options, sort_keys=True),
                     columns=tuple(columns.items()))


# What to do about a split all of whose rows a policy dropped, by the policy.
_POLICY_HINTS = {"unknown_user": "their users are not in the user file; data.options.unknown_ids=oov keeps them",
                 "unknown_item": "their items are not in the item file; data.options.unknown_ids=oov keeps them",
                 "k_core": "lower data.options.k_core"}


class TableBuilder(LocalBuild, tfds.core.GeneratorBasedBuilder):
  """Base of the format builders: `FORMAT` is the format object that parses the files (its dataset module's).
  `max_bad_fraction`: the error budget checked while building (None: files are checked only for being empty or
  unreadable)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  FORMAT = None
  BYTES_ENCODED = False   # numeric columns stored as raw bytes (see the module docstring)

  def __init__(self, *, max_bad_fraction: Optional[float] = None, **kwargs):
    self.max_bad_fraction = max_bad_fraction
    super().__init__(**kwargs)

  @property
  def _format(self):
    return type(self).FORMAT

  @property
  def generated_locally(self) -> bool:
    """Built from files under data.path (not downloaded by TFDS): no "Downloading ..." lines (tfds_prepare.py)."""
    return bool(self.builder_config.files)

  def _info(self) -> tfds.core.DatasetInfo:
    features = {}
    for name, kind in self.builder_config.columns:
      if kind == "id_list":
        features[name + ITEMS_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.object_)
        features[name + LENGTH_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.int64)
      elif self.BYTES_ENCODED and STORAGE[kind] is np.object_:
        features[name + VALUES_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.object_)
        features[name + CODES_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.int32,
                                                             encoding=tfds.features.Encoding.BYTES)
      else:
        encoding = tfds.features.Encoding.BYTES if self.BYTES_ENCODED else tfds.features.Encoding.NONE
        features[name] = tfds.features.Tensor(shape=(None,), dtype=STORAGE[kind], encoding=encoding)
    fmt = self._format
    return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features), homepage=fmt.homepage,
                                          description=f"{fmt.name}: {fmt.description} Licence: {fmt.license}",
                                          metadata=tfds.core.MetadataDict(),
                                          # Row groups stay in file order: no shuffle pass over a big log.
                                          disable_shuffling=True)

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    options = json.loads(cfg.options)
    files = dict(cfg.files)
    if not files:
      files = self._format.locate(self._format.download(dl_manager, options), options)
    self._report = SourceReport(budget=self.max_bad_fraction)
    self._rows = {}
    parsed = self._format.parse(files, options, self._report)
    if not any(callable(blocks) for blocks in parsed.values()):   # every file is read: check before writing
      self._check_files()
      for split, cols in parsed.items():
        self._check_rows(split, len(next(iter(cols.values()))) if cols else 0)
    self._pending = set(parsed)
    return {split: self._generate_examples(split, blocks) for split, blocks in parsed.items()}

  def _check_files(self) -> None:
    for f in self._report.files.values():
      problem = budget_problem(f.to_json(), self.max_bad_fraction, f.header, f.expects)
      if problem:
        raise UserError(problem)

  def _check_rows(self, split: str, rows: int) -> None:
    """A split with no rows cannot be stored (TFDS asserts); say which policy dropped them and what to do."""
    if rows:
      return
    account = self._report.split(split)
    where = f" of {account.path}" if account.path else ""
    dropped = {k: v for k, v in account.dropped.items() if v}
    if not account.rows_read:
      raise UserError(f"{self._format.name}: no rows in split {split!r}{where}: no line of it could be read")
    reasons = ", ".join(f"{r}: {c}" for r, c in sorted(dropped.items(), key=lambda kv: -kv[1]))
    worst = max(dropped, key=dropped.get) if dropped else ""
    hint = f"; {_POLICY_HINTS[worst]}" if worst in _POLICY_HINTS else ""
    raise UserError(f"{self._format.name}: no rows left in split {split!r}{where}: all {account.rows_read} rows "
                    f"read were dropped by policy ({reasons}){hint}")

  def _blocks(self, blocks) -> Iterator[Columns]:
    if callable(blocks):
      yield from blocks()
    else:
      yield blocks

  def _generate_examples(self, split, blocks):
    key = 0
    for cols in self._blocks(blocks):
      n = len(next(iter(cols.values()))) if cols else 0
      self._rows[split] = self._rows.get(split, 0) + n
      for start in range(0, n, ROWS_PER_EXAMPLE):
        yield key << KEY_SHIFT, self._row_group({k: v[start:start + ROWS_PER_EXAMPLE] for k, v in cols.items()})
        key += 1
    self._rows.setdefault(split, 0)
    if callable(blocks):   # a streamed file is checked once read, before TFDS finishes the split
      self._check_files()
      self._check_rows(split, self._rows[split])
    # The report is complete once the last split is written (TFDS writes the metadata after all splits).
    self._pending.discard(split)
    if not self._pending:
      self.info.metadata["source_report"] = self._report.to_json(rows_kept=self._rows)

  def _row_group(self, cols: Columns) -> dict:
    out = {}
    for name, kind in self.builder_config.columns:
      values = cols[name]
      if kind == "id_list":
        out[name + LENGTH_SUFFIX] = np.array([len(v) for v in values], dtype=np.int64)
        out[name + ITEMS_SUFFIX] = np.array([str(i) for v in values for i in v], dtype=object)
      elif STORAGE[kind] is np.object_ and self.BYTES_ENCODED:
        distinct, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
        out[name + VALUES_SUFFIX] = distinct.astype(object)
        out[name + CODES_SUFFIX] = codes.reshape(-1).astype(np.int32)
      elif STORAGE[kind] is np.object_:
        out[name] = np.asarray(values).astype(str).astype(object)
      else:
        out[name] = np.asarray(values).astype(STORAGE[kind])
    return out


def unpack(groups, columns: Dict[str, str]) -> Columns:
  """Row-group examples -> one array per column (strings decoded, list columns as object arrays of lists)."""
  if not groups:
    return {name: np.zeros(0, dtype=STORAGE[kind]) for name, kind in columns.items()}
  out = {}
  for name, kind in columns.items():
    if kind == "id_list":
      lengths = np.concatenate([np.asarray(g[name + LENGTH_SUFFIX]) for g in groups])
      flat = decode_strings(np.concatenate([np.asarray(g[name + ITEMS_SUFFIX]) for g in groups]))
      lists = np.empty(len(lengths), dtype=object)
      lists[:] = [list(x) for x in np.split(flat, np.cumsum(lengths)[:-1])] if len(lengths) else []
      out[name] = lists
    elif name + CODES_SUFFIX in groups[0]:
      out[name] = np.concatenate([decode_strings(np.asarray(g[name + VALUES_SUFFIX]))[g[name + CODES_SUFFIX]]
                                  for g in groups])
    else:
      out[name] = decode_strings(np.concatenate([np.asarray(g[name]) for g in groups]))
  return out


def build_and_read(builder_cls, config: TableConfig, data_dir: str, splits,
                   max_bad_fraction: Optional[float] = None) -> Tuple[Dict[str, Columns], dict]:
  """Prepares the dataset once (under a file lock: runs of a parallel sweep may ask for it at once; the files
  checked against the error budget `max_bad_fraction` while building) and reads `splits` (None: all of them);
  returns ({split: columns}, source report)."""
  builder = prepare_once(builder_cls, config, data_dir, max_bad_fraction=max_bad_fraction)
  columns = dict(config.columns)
  available = list(builder.info.splits)
  out = {}
  for split in (available if splits is None else splits):
    if split not in available:
      raise UserError(f"{config.format_name} data in {dict(config.files)} has no split {split!r}; "
                      f"it has {sorted(available)}")
    source = builder.as_data_source(split=split)
    logging.info("reading %s/%s: %d row groups", config.name, split, len(source))
    out[split] = unpack(read_row_groups(source, f"read {split}"), columns)
  return out, dict(builder.info.metadata)["source_report"]
