"""Streaming preparation (`data.streaming=True`): a stored log too large to hold in memory (the 45M-row Criteo
file: ~105 GB as in-memory columns) becomes a row store per split on disk (row_store.py) that training and
evaluation read batches from, while the process holds a few blocks of rows at a time.

Two passes over the stored log (stored_log.py, 16 row groups of 4096 rows at a time):
1. the train rows fit governance's medians and the feature processor (fit.py);
2. every split's rows are governed (data/governance.py's `clean`, block by block: its rules are per row), their
   reports summed into data_report.json, transformed by the processor and appended to the split's row store.
The split of each row comes from its position (data/splits.py's `labels_in_stored_order`: random or
global_temporal), which needs the rows stored in time order: checked as they are read. The result is the data the
in-memory path prepares from the same files (same splits, governance, vocabularies and ids; numeric statistics to
float64 rounding; rank groups numbered in another order), so a run trains and evaluates the same either way.

The store is written under `<workdir>/feature_store` with a manifest naming what it was made from (the stored
dataset, the data and features config, the processor file); a resumed run whose manifest matches reads it as it
is, without reading the log again. Otherwise the log is prepared again and checked against the run's data
fingerprint (data/fingerprint.py), as the in-memory path does. Histories, texts, queries, catalogue ranking and
the splits that need a user's rows together (temporal, leave_one_out) are in-memory features: `check_streaming`
names the one a config asks for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from typing import Dict, Optional

import numpy as np

from rec_jax import distributed
from rec_jax.batch import FeatureArrays
from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.fingerprint import file_digest, check_fingerprint, write_fingerprint
from rec_jax.data.governance import clean
from rec_jax.data.prefetch import check_prefetch
from rec_jax.data.prepare import PreparedData, _check_source_accounting
from rec_jax.data.splits import SPLIT_NAMES, labels_in_stored_order
from rec_jax.data.streaming.fit import StreamingFit, placeholder_fills
from rec_jax.data.streaming.row_store import RowWriter, StoredRows, store_problem
from rec_jax.data.streaming.stored_log import StoredLog
from rec_jax.errors import UserError
from rec_jax.progress import bar
from rec_jax.workdir import DATA_FINGERPRINT_FILE, DATA_REPORT_FILE, PLACEMENT, PROCESSOR_FILE

STORE_DIR = "feature_store"
MANIFEST = "manifest.json"
# Tasks whose evaluation reads rows one by one (pointwise metrics); ranking needs a catalogue and users' items.
STREAMING_TASKS = ("ctr", "rating")
Columns = Dict[str, np.ndarray]


def check_streaming(config) -> None:
  """With `data.streaming`, a UserError naming the first thing of `config` streaming preparation cannot do."""
  data = config.data
  if not data.get("streaming", False):
    return
  from rec_jax.data.datasets import DATASETS  # pylint: disable=import-outside-toplevel  (a cycle)
  if not hasattr(DATASETS.get(data.name).DATASET, "stored"):
    raise UserError(f"data.streaming reads a real dataset's stored files; data.name={data.name!r} is made in "
                    "memory: set data.streaming=False")
  labels_in_stored_order(0, data.split)
  features = config.features
  for key, value in (("text", tuple(features.text)), ("query", features.query),
                     ("history_length", features.history_length)):
    if value:
      raise UserError(f"data.streaming prepares tabular rows only: features.{key}={value!r} needs the in-memory "
                      f"path (set features.{key} to {'0' if key == 'history_length' else repr(type(value)())} or "
                      "data.streaming=False)")
  check_prefetch(data.get("prefetch", 0))   # before any work (data/prefetch.py checks it again for any run)
  if config.task not in STREAMING_TASKS:
    raise UserError(f"data.streaming serves pointwise tasks ({', '.join(STREAMING_TASKS)}); task={config.task!r} "
                    "ranks a catalogue: set data.streaming=False")


def prepare_streamed(dataset, data_cfg, features: FeatureOptions, workdir: str, *,
                     write_report: bool = True) -> PreparedData:
  """The run's `PreparedData` with every split a `StoredRows` (and no catalogue). Process 0 prepares the store;
  the others then read it."""
  return distributed.primary_first(lambda: _prepare(dataset, data_cfg, features, workdir, write_report),
                                   "preparing the data")


def _prepare(dataset, data_cfg, features: FeatureOptions, workdir: str, write_report: bool) -> PreparedData:
  writes = write_report and distributed.is_primary()
  log: StoredLog = dataset.stored(data_cfg, features.label)
  store = os.path.join(workdir, STORE_DIR)
  processor_path = os.path.join(workdir, PROCESSOR_FILE)
  data = {k: v for k, v in data_cfg.to_dict().items() if f"data.{k}" not in PLACEMENT}   # not what is prepared
  key = json.dumps([log.name, data, features.to_dict()], sort_keys=True, default=str)
  source = data_cfg.get("path", "") or f"{data_cfg.name} in {data_cfg.data_dir}"
  manifest = _read_manifest(store)
  prepared = (manifest is not None and manifest.get("key") == key and os.path.exists(processor_path)
              and manifest.get("processor_sha256") == file_digest(processor_path))
  # A store cut short, bit-flipped or half deleted is never read: it is prepared again from the log (and the data
  # checked against the run's fingerprint, as always).
  damage = next(filter(None, (store_problem(os.path.join(store, n)) for n in SPLIT_NAMES)), None) if prepared \
      else None
  if prepared and damage is None:
    if not check_fingerprint(workdir, manifest["digests"], source) and writes:
      logging.warning("%s has no data fingerprint: recording the data of its prepared rows as the run's", workdir)
      write_fingerprint(workdir, manifest["digests"], processor_path)
    processor, report = FeatureProcessor.load(processor_path, features), manifest["report"]
    logging.info("reading the prepared rows of %s", store)
  elif damage is not None and not writes:
    raise UserError(f"the prepared rows in {store} are damaged ({damage}); run the training command on {workdir} "
                    "again: process 0 prepares them again")
  elif not writes:
    where = "process 0 did not prepare it" if write_report else "it holds no prepared data of this config"
    raise UserError(f"{store} cannot be read ({where}); run the training command on {workdir} first")
  else:
    if damage is not None:
      logging.warning("the prepared rows in %s are damaged: %s; preparing them again", store, damage)
    report, processor = _write_store(log, data_cfg, features, workdir, key, source)
  if writes:
    with open(os.path.join(workdir, DATA_REPORT_FILE), "w") as f:
      json.dump(report, f, indent=1)
  for split, r in report["splits"].items():
    logging.info("governance %s: read %d kept %d dropped %s imputed %s clipped %s", split, r["rows_read"],
                 r["rows_kept"], r["dropped"], r["imputed"], r["clipped"])
  splits = {name: FeatureArrays(StoredRows(os.path.join(store, name))) for name in SPLIT_NAMES}
  return PreparedData(splits, processor, report, catalogue=None, users=None)


def _read_manifest(store: str) -> Optional[dict]:
  try:
    with open(os.path.join(store, MANIFEST)) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def _remove(path: str) -> None:
  """Removes a directory tree or a file at `path`, if any."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  elif os.path.lexists(path):
    os.remove(path)


def _reasons(dropped: Dict[str, int]) -> str:
  return ", ".join(f"{reason}: {count}" for reason, count in sorted(dropped.items(), key=lambda x: -x[1]))


def _select(cols: Columns, mask: np.ndarray) -> Columns:
  return {k: v[mask] for k, v in cols.items()}


class _InTimeOrder:
  """Checks that the blocks' rows come in (timestamp, order) order, the order the in-memory path sorts them in."""

  def __init__(self):
    self.last = None

  def __call__(self, block: Columns) -> None:
    if "timestamp" not in block or not len(block["timestamp"]):
      return
    t, o = block["timestamp"].astype(np.int64), block["order"].astype(np.int64)
    if self.last is not None:
      t, o = np.r_[self.last[0], t], np.r_[self.last[1], o]
    back = (t[1:] < t[:-1]) | ((t[1:] == t[:-1]) & (o[1:] < o[:-1]))
    if back.any():
      raise UserError("data.streaming needs the stored rows in time order (as Criteo's files are), but a row's "
                      "timestamp goes back: set data.streaming=False")
    self.last = (t[-1], o[-1])


class _GroupIds:
  """Dense ids of the rank-group values of one split, numbered as they first appear."""

  def __init__(self):
    self.ids: Dict[str, int] = {}

  def __call__(self, values: np.ndarray) -> np.ndarray:
    distinct, inverse = np.unique(values.astype(str), return_inverse=True)
    mapped = np.array([self.ids.setdefault(v, len(self.ids)) for v in distinct], np.int32)
    return mapped[inverse.reshape(-1)] if len(distinct) else np.zeros(0, np.int32)


class _Digest:
  """data/fingerprint.py's split digest, block by block (the columns of each block in name order)."""

  def __init__(self):
    self.h, self.rows = hashlib.sha256(), 0

  def update(self, cols: Columns) -> None:
    for name in sorted(cols):
      values = cols[name]
      self.h.update(f"{name}|{values.dtype}|{len(values)}|".encode())
      if values.dtype == object:
        self.h.update("\x1f".join(map(str, values)).encode("utf-8", "surrogatepass"))
      else:
        self.h.update(np.ascontiguousarray(values).tobytes())
    self.rows += len(next(iter(cols.values()))) if cols else 0

  def result(self) -> dict:
    return {"rows": self.rows, "sha256": self.h.hexdigest()}


def _add_report(total: Optional[dict], part: dict) -> dict:
  if total is None:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in part.items()}
  for key in ("rows_read", "rows_kept", "rows_dropped"):
    total[key] += part[key]
  for key in ("dropped", "imputed", "clipped"):
    for name, count in part[key].items():
      total[key][name] = total[key].get(name, 0) + count
  return total


def _blocks(log: StoredLog, desc: str):
  groups = 16
  return bar(log.blocks(groups), total=-(-len(log.source) // groups), desc=desc, unit="block")


def _write_store(log: StoredLog, data_cfg, features: FeatureOptions, workdir: str, key: str, source: str):
  """Both passes (module docstring); returns (data report, processor)."""
  labels = labels_in_stored_order(log.rows, data_cfg.split)
  fitting, placeholders, in_order, at = StreamingFit(features, log.schema), placeholder_fills(log.schema), \
      _InTimeOrder(), 0
  train_report = None   # governance's drops of the train rows (the placeholders change no drop)
  for block in _blocks(log, "fit on train"):
    n = len(block["label"])
    in_order(block)
    train = _select(block, labels[at:at + n] == 0)
    at += n
    fitting.add_raw(train)
    cleaned, part = clean(log.schema, train, placeholders)
    train_report = _add_report(train_report, part)
    fitting.add_clean(cleaned)
  if at != log.rows:
    raise AssertionError(f"the stored log yielded {at} rows, its report says {log.rows}")
  if not fitting.rows:
    read = train_report["rows_read"] if train_report else 0
    why = (f"all {read} of its rows were dropped by governance ({_reasons(train_report['dropped'])})" if read else
           f"data.split puts none of the {log.rows} rows of {source} in it")
    raise UserError(f"data.streaming: the train split is empty: {why}; fix the data or its options "
                    "(data.options, data.split)")
  fills = fitting.fills()
  processor_path = os.path.join(workdir, PROCESSOR_FILE)
  existing = os.path.exists(processor_path)
  processor = FeatureProcessor.load(processor_path, features) if existing else fitting.processor()
  store, partial = os.path.join(workdir, STORE_DIR), os.path.join(workdir, STORE_DIR + ".partial")
  for path in (partial, store):   # left by a killed preparation, or damaged (also a file in their place)
    _remove(path)
  os.makedirs(partial)
  oracle = bool(features.oracle) and features.oracle in log.columns
  writers = {name: RowWriter(os.path.join(partial, name), features.categorical, features.numeric, oracle)
             for name in SPLIT_NAMES}
  reports: Dict[str, Optional[dict]] = dict.fromkeys(SPLIT_NAMES)
  digests = {name: _Digest() for name in SPLIT_NAMES}
  groups = {name: _GroupIds() for name in SPLIT_NAMES}
  group_column = features.rank_group or features.user_id
  at = 0
  for block in _blocks(log, "transform"):
    n = len(block["label"])
    split = labels[at:at + n]
    at += n
    for s, name in enumerate(SPLIT_NAMES):
      mask = split == s
      if not mask.any():
        continue
      cleaned, part = clean(log.schema, _select(block, mask), fills)
      reports[name] = _add_report(reports[name], part)
      digests[name].update(cleaned)
      kept = len(cleaned["label"])
      rows = processor.transform({**cleaned, features.history: np.empty(kept, dtype=object)}).rows
      writers[name].append(rows.replace(rank_group=groups[name](cleaned[group_column])))
  for name, writer in writers.items():
    writer.close()
    if reports[name] is None:   # a split without rows
      reports[name] = dict(rows_read=0, rows_kept=0, rows_dropped=0, dropped={}, imputed={}, clipped={})
  report = {"source": log.report, "policy": [dataclasses.asdict(r) for r in log.schema.rules], "dedup_key": None,
            "fitted_on_train": fills, "splits": reports}
  _check_source_accounting(log.report, report)
  fingerprint = {name: d.result() for name, d in digests.items()}
  if existing:
    if not check_fingerprint(workdir, fingerprint, source):
      write_fingerprint(workdir, fingerprint, processor_path)
  elif os.path.exists(os.path.join(workdir, DATA_FINGERPRINT_FILE)):
    # A run that recorded its data lost its processor: fitted again, it must be fitted on the same data.
    processor.save(processor_path + ".tmp")
    os.replace(processor_path + ".tmp", processor_path)
    check_fingerprint(workdir, fingerprint, source)
  else:
    # The fingerprint is on disk before the processor: a workdir with a processor always has its fingerprint.
    processor.save(processor_path + ".tmp")
    write_fingerprint(workdir, fingerprint, processor_path + ".tmp")
    os.replace(processor_path + ".tmp", processor_path)
  manifest = {"key": key, "processor_sha256": file_digest(processor_path), "digests": fingerprint,
              "report": report, "rows": {name: w.rows for name, w in writers.items()}}
  with open(os.path.join(partial, MANIFEST), "w") as f:
    json.dump(manifest, f)
  os.replace(partial, store)
  logging.info("prepared %s: %s rows", store, manifest["rows"])
  return report, processor
