"""A real dataset: official files, read by its format, stored once by its TFDS builder (table_builder.py), then
the interaction log -> labels, splits (data/splits.py) and histories (data/histories.py) -> raw columns per split
and a governance schema, as every dataset gives them to rec_jax/data/prepare.py.

A dataset module (rec_jax/data/datasets/<name>.py, `data.name=<name>`) defines its format, a `TableBuilder`
subclass whose `FORMAT` is it, and `DATASET = RealDataset(<builder>)`. A format is an object with
- `name`, `homepage`, `license` (shown in the README and the TFDS metadata);
- `locate(path, options) -> {role: file}`: the files it needs under `data.path` (a directory or one file); a
  missing one is a FileNotFoundError naming the file it expects and where it looked;
- `columns(files, options) -> {column: kind}` (kinds in formats/columns.py);
- `parse(files, options, report) -> {split: columns or a callable yielding column blocks}` (blocks for files too
  big to hold, e.g. Criteo), counting every line in `report` (formats/source_report.py);
- `download(dl_manager, options) -> path` where the files can be fetched (only when `data.path` is empty), with
  `download_urls(options) -> [url]` the URLs it fetches (checked for options first): before TFDS's downloader
  (which retries an unreachable host for minutes) their hosts are probed with a short timeout, and a host that
  cannot be reached, with the files not already in `data_dir/downloads`, is one UserError line saying so;
- `duplicates` among its options (formats/duplicates.py), its rows' exact-duplicate policy.
Split names are `full` (the whole log; rec_jax/data/splits.py splits it) or the format's predefined ones.

Config (`data`): `name`, `path` (a directory or file of the official files; empty: download where the format can),
`data_dir` (TFDS), `options` (the format's own: variant, unknown_ids, k_core, ...), `max_bad_fraction` (error budget
of malformed lines per file), `implicit_threshold` (label = rating >= it; 0: every interaction is positive), `split`
(splits.py: kind, ratios, seed, cold_item_fraction; `fold` and `validation_fraction` for predefined folds).
"""

from __future__ import annotations

import dataclasses

import logging
import os
import socket
import threading
import urllib.parse
import urllib.request
from typing import Dict, Optional

import numpy as np
import tensorflow_datasets as tfds

from rec_jax.data.formats.columns import governance_rule
from rec_jax.data.formats.source_report import check_error_budget
from rec_jax.data.formats.table_builder import build_and_read, table_config
from rec_jax.data.governance import Schema
from rec_jax.data.histories import prior_histories
from rec_jax.data.raw import RawDataset
from rec_jax.data.splits import SPLIT_NAMES, assign_splits, hold_out_items
from rec_jax.data.streaming.stored_log import StoredLog
from rec_jax.data.tfds_prepare import prepare_once
from rec_jax.errors import UserError

Columns = Dict[str, np.ndarray]
# Columns that order and place rows; they stay in the raw data (governance checks them) but are not features.
LOG_COLUMNS = ("timestamp", "order")


def _root(data_cfg, fmt) -> str:
  if data_cfg.path:
    path = os.path.expanduser(data_cfg.path)
    if not os.path.exists(path):
      raise FileNotFoundError(f"data.path={data_cfg.path!r} does not exist (the {fmt.name} files: "
                              f"{fmt.homepage})")
    return path
  if not hasattr(fmt, "download"):
    raise UserError(f"{fmt.name} cannot be downloaded (its licence asks for a manual download): get the files "
                    f"from {fmt.homepage} and set data.path")
  manager = tfds.download.DownloadManager(download_dir=os.path.join(os.path.expanduser(data_cfg.data_dir),
                                                                    "downloads"))
  if hasattr(fmt, "download_urls"):
    urls = [u for u in fmt.download_urls(dict(data_cfg.options)) if not _cached(manager, u)]
    for url in urls:
      problem = unreachable(url)
      if problem:
        raise UserError(f"data.path is empty and the {fmt.name} files could not be downloaded from {url} (no "
                        f"network: {problem}); download them from {fmt.homepage} and set data.path to their "
                        "directory")
  return fmt.download(manager, dict(data_cfg.options))


# Seconds to wait for a download host (or the proxy) to accept a connection before calling it unreachable.
PROBE_TIMEOUT = 5.0


def _cached(manager, url: str) -> bool:
  """Whether TFDS's download manager has `url` in its cache already (then no network is needed). Uses TFDS's
  internals: when they change, the answer is False and the host is probed, which is merely slower offline."""
  try:
    from tensorflow_datasets.core.download import resource as resource_lib  # pylint: disable=import-outside-toplevel
    return bool(resource_lib.is_locally_cached(manager._get_dl_path(resource_lib.Resource(url=url))))  # pylint: disable=protected-access
  except (AttributeError, ImportError, TypeError):
    return False


def unreachable(url: str, timeout: Optional[float] = None) -> str:
  """'' when a TCP connection to `url`'s host (or to the proxy the environment sets for it) opens within `timeout`
  seconds; else what failed. Name resolution runs in a thread, so a hanging DNS cannot stall the probe either."""
  timeout = PROBE_TIMEOUT if timeout is None else timeout
  parts = urllib.parse.urlsplit(url)
  host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
  proxy = urllib.request.getproxies().get(parts.scheme)
  if proxy and not urllib.request.proxy_bypass(host):
    p = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host, port = p.hostname or "", p.port or 80
  outcome = []

  def connect():
    try:
      socket.create_connection((host, port), timeout=timeout).close()
      outcome.append("")
    except OSError as e:
      outcome.append(f"{host}:{port}: {e.strerror or e}")

  thread = threading.Thread(target=connect, daemon=True)
  thread.start()
  thread.join(timeout + 1)
  return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:g} s"


def labels(log: Columns, threshold: float) -> np.ndarray:
  """The label column. From a rating: a missing (NaN) rating has no label; it gets -1, which governance's label
  rule (allowed 0, 1) drops and counts as `invalid:label`, rather than a silent 0."""
  if "label" in log:
    return log["label"].astype(np.int64)
  if "rating" in log and threshold:
    rating = log["rating"].astype(np.float64)
    return np.where(np.isnan(rating), -1, rating >= threshold).astype(np.int64)
  return np.ones(len(log["user_id"]), np.int64)


def _concat(parts) -> Columns:
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _predefined(stored: Dict[str, Columns], split_cfg):
  """One log with a split label per row from the format's split files; a fold without a validation file gives
  `validation_fraction` of its training rows (drawn with `split.seed`) to validation."""
  fold = split_cfg.fold
  names = {"train": f"{fold}_base", "test": f"{fold}_test"} if fold else {s: s for s in SPLIT_NAMES}
  missing = [n for n in names.values() if n not in stored]
  if missing:
    have = sorted(s for s in stored if s != "full")
    folds = sorted({s.rsplit("_", 1)[0] for s in have if s.endswith(("_base", "_test"))})
    hint = f"; set data.split.fold to one of its folds {folds}" if folds else ""
    raise UserError(f"data.split.kind=predefined needs the split file(s) {missing}; the data has "
                    f"{have or 'none'}{hint}")
  parts, labels = [], []
  for s, name in names.items():
    parts.append(stored[name])
    labels.append(np.full(len(stored[name]["user_id"]), SPLIT_NAMES.index(s), np.int8))
  log, label = _concat(parts), np.concatenate(labels)
  if "validation" not in names:
    train = np.flatnonzero(label == 0)
    take = np.random.default_rng([split_cfg.seed, 17]).permutation(len(train))
    label[train[take[:int(split_cfg.validation_fraction * len(train))]]] = 1
  return {**log, "_split": label}, list(names.values())


def _schema(columns: Dict[str, str], log: Columns, target: str = "label") -> Schema:
  """The governance of the stored columns. `target` is the column the run learns (features.label): a row missing
  it has nothing to learn from and is dropped (`missing:<column>`), where another number would get the train
  median (a rating task must not learn a median it invented)."""
  rules = [governance_rule(name, kind) for name, kind in columns.items() if name in log and kind != "split"]
  rules = [dataclasses.replace(r, on_missing="drop") if r.name == target else r for r in rules]
  rules.append(governance_rule("label", "label"))
  if not any(r.name == "history" for r in rules):
    rules.append(governance_rule("history", "id_list"))
  return Schema(rules=tuple(rules))


class RealDataset:
  """`DATASET` of a real dataset's module: `load(data_cfg, features)` reads the format of `builder_cls.FORMAT`."""

  def __init__(self, builder_cls):
    self.builder_cls = builder_cls

  @property
  def format(self):
    return self.builder_cls.FORMAT

  def load(self, data_cfg, features=None) -> RawDataset:
    """`features`: the run's FeatureOptions (their history_length bounds the histories; None: 50)."""
    fmt = self.format
    options = dict(data_cfg.options)
    files = fmt.locate(_root(data_cfg, fmt), options)
    columns = fmt.columns(files, options)
    config = table_config(fmt.name, files, options, columns)
    stored, report = build_and_read(self.builder_cls, config, data_cfg.data_dir, None,
                                    max_bad_fraction=data_cfg.max_bad_fraction)
    check_error_budget(report, data_cfg.max_bad_fraction)   # a stored dataset may have been built with another
    split_cfg = data_cfg.split
    if split_cfg.kind == "predefined":
      log, used = _predefined(stored, split_cfg)
      if split_cfg.get("cold_item_fraction", 0.0):   # (assign_splits applies it to the other kinds)
        log["_split"] = hold_out_items(log["item_id"], log["_split"], split_cfg.cold_item_fraction,
                                       split_cfg.get("seed", 0))
    else:
      used = ["full"]
      if "full" not in stored:
        raise UserError(f"{fmt.name} data at {data_cfg.path!r} comes in predefined splits {sorted(stored)}; set "
                        "data.split.kind=predefined")
      log = dict(stored["full"])
      log["_split"] = assign_splits(log, split_cfg)
    # Rows in time order, so every split lists its rows chronologically (as the synthetic shop does).
    chronological = np.lexsort((log["order"], log["timestamp"]))
    log = {k: v[chronological] for k, v in log.items()}
    split = log.pop("_split")
    log["label"] = labels(log, data_cfg.implicit_threshold)
    if "history" not in log:
      length = features.history_length if features is not None else 50
      log["history"] = prior_histories(log["user_id"], log["item_id"], log["timestamp"], log["order"],
                                       log["label"] > 0, split, length)
    out = {name: {k: v[split == s] for k, v in log.items()} for s, name in enumerate(SPLIT_NAMES)}
    for name, cols in out.items():
      logging.info("%s %s: %d rows, %d users, %d items", fmt.name, name, len(cols["user_id"]),
                   len(np.unique(cols["user_id"])), len(np.unique(cols["item_id"])))
    target = features.label if features is not None else "label"
    return RawDataset(out, _schema(columns, log, target), {**report, "used_splits": used})

  def stored(self, data_cfg, target: str = "label") -> StoredLog:
    """The dataset's stored log, built from its files if need be, for reading block by block
    (data/streaming/prepare.py): its `full` split (a format of predefined split files is refused), without
    histories. `target`: the run's label column (features.label), which governance drops rows without."""
    fmt = self.format
    options = dict(data_cfg.options)
    files = fmt.locate(_root(data_cfg, fmt), options)
    columns = fmt.columns(files, options)
    config = table_config(fmt.name, files, options, columns)
    builder = prepare_once(self.builder_cls, config, data_cfg.data_dir, max_bad_fraction=data_cfg.max_bad_fraction)
    report = dict(builder.info.metadata)["source_report"]
    check_error_budget(report, data_cfg.max_bad_fraction)
    if "full" not in builder.info.splits:
      raise UserError(f"data.streaming reads one whole log, but the {fmt.name} data at {data_cfg.path!r} comes in "
                      f"predefined splits {sorted(builder.info.splits)}; set data.streaming=False")
    rules = _schema(columns, {**columns, "label": None}, target).rules
    schema = Schema(rules=tuple(r for r in rules if r.name != "history"))
    return StoredLog(config.name, builder.as_data_source(split="full"), columns, schema,
                     int(report["splits"]["full"]["rows_kept"]), {**report, "used_splits": ["full"]},
                     lambda log: labels(log, data_cfg.implicit_threshold))
