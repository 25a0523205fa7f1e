"""TFDS builders of the real datasets (TF-free: array_record, read with `as_data_source()`).

One builder class per format (`Movielens`, `AmazonReviews`, ...), all this base: the builder config carries the
format's options, the files it reads and a fingerprint of them (name, size, mtime), so a changed file or option is
a new dataset version in `data.data_dir` rather than a stale cache. Files come from `data.path` (TFDS's manual_dir)
or, where the format can, from its official download URL. Examples are row groups of up to `ROWS_PER_EXAMPLE`
rows stored as columns (decoding one TFDS example per row would dominate reading, see the synthetic shop's
builder); list columns are stored flat with per-row lengths. The source report (formats/source_report.py) is
stored in the dataset's TFDS metadata (`metadata.json`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Dict, Iterator, Tuple

import numpy as np
import tensorflow_datasets as tfds

from rec_jax.data.formats.columns import STORAGE, check_columns
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.tfds_prepare import decode_strings, prepare_once, read_row_groups
from rec_jax.errors import UserError

ROWS_PER_EXAMPLE = 4096
LENGTH_SUFFIX, ITEMS_SUFFIX = "__length", "__items"
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


class TableBuilder(tfds.core.GeneratorBasedBuilder):
  """Base of the format builders: `FORMAT` is the format object that parses the files (its dataset module's)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  FORMAT = None

  @property
  def _format(self):
    return type(self).FORMAT

  def _info(self) -> tfds.core.DatasetInfo:
    features = {}
    for name, kind in self.builder_config.columns:
      if kind == "id_list":
        features[name + ITEMS_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.object_)
        features[name + LENGTH_SUFFIX] = tfds.features.Tensor(shape=(None,), dtype=np.int64)
      else:
        features[name] = tfds.features.Tensor(shape=(None,), dtype=STORAGE[kind])
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
    self._report = SourceReport()
    self._rows = {}
    parsed = self._format.parse(files, options, self._report)
    self._pending = set(parsed)
    return {split: self._generate_examples(split, blocks) for split, blocks in parsed.items()}

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
        yield f"{key:012d}", self._row_group({k: v[start:start + ROWS_PER_EXAMPLE] for k, v in cols.items()})
        key += 1
    self._rows.setdefault(split, 0)
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
    else:
      out[name] = decode_strings(np.concatenate([np.asarray(g[name]) for g in groups]))
  return out


def build_and_read(builder_cls, config: TableConfig, data_dir: str, splits) -> Tuple[Dict[str, Columns], dict]:
  """Prepares the dataset once (under a file lock: runs of a parallel sweep may ask for it at once) and reads
  `splits` (None: all of them); returns ({split: columns}, source report)."""
  builder = prepare_once(builder_cls, config, data_dir)
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
