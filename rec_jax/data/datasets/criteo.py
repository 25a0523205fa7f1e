"""Criteo display-advertising click logs, read from the official files unchanged: the Kaggle Display Advertising
Challenge's `train.txt` (45M impressions of 7 days) and the Terabyte Click Logs' `day_0` ... `day_23` files.

Tab-separated, no header, one impression per line in time order: the label (1 = clicked), 13 integer features
`I1..I13` (counts; may be negative, empty = missing) and 26 categorical features `C1..C26` (hashed to 8 hex digits
by Criteo; empty = missing). Columns: label, I1..I13 (numbers, NaN when empty), C1..C26 (categories, "" when
empty), timestamp and order (both the line number: the file has no times, only their order), user_id and item_id.
Criteo has no users or items: both are the constant "0" unless `data.options.user_column` / `item_column` name a
categorical column to serve as that id (e.g. item_column="C3"; a row with that column empty then has no id and
governance drops it); with constant ids the per-user metrics (gauc, ndcg@K) are global ones. Kaggle's `test.txt`
has no label column and is not read.

The file is streamed (`parse` returns a block generator, see formats/real_dataset.py): `max_rows` (0 = all) keeps the
first N valid lines, the usual way to sample the Kaggle file; `block_rows` is how many rows are held at once.
Other options: `num_integer`, `num_categorical` (13, 26), `separator` (tab), `user_column`, `item_column`,
`duplicates` (`drop` | `keep`, formats/duplicates.py; see below).

A line is malformed (dropped and counted against data.max_bad_fraction) when it has the wrong column count, a
label other than 0 or 1 ("invalid label"; nan too), or an integer feature that is not an integer
("non-numeric value") or beyond int64 ("value out of range").

Duplicates: the time of a row is its line number, so no two rows are exact duplicates (formats/duplicates.py: equal
in every column but `order`) and `duplicates=drop` drops none: two identical impressions are two impressions (the
same ad shown twice), as every Criteo benchmark reads them. Identical consecutive lines are kept under either policy
and counted in the report's notes as `consecutive_repeats`.
"""

from __future__ import annotations

import math
import os
from typing import Dict, Iterator, List, Tuple

import numpy as np

from rec_jax.data.formats import duplicates
from rec_jax.data.formats.lines import find_file, read_lines
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport, SplitAccount
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import BadValue, int64
from rec_jax.errors import UserError

DEFAULTS = dict(max_rows=0, num_integer=13, num_categorical=26, separator="\t", user_column="", item_column="",
                block_rows=100_000, duplicates="drop")
ROLE = "impressions"
# The id of every row when the data has no users (or items): one constant, so governance and the id
# vocabularies see a valid id and every row falls in the same group.
CONSTANT_ID = "0"
LABELS = {"0": 0, "1": 1}
# An integer field this long (19 characters: int64 has 19 digits) may be beyond int64, and is checked exactly.
LONG_INTEGER = 19


def check_options(options: dict) -> dict:
  """`options` over DEFAULTS; unknown keys (a typo would silently read all 45M lines) and bad values fail."""
  unknown = set(options) - set(DEFAULTS)
  if unknown:
    raise UserError(f"unknown criteo option(s) {sorted(unknown)}; valid: {', '.join(DEFAULTS)}")
  out = {**DEFAULTS, **options}
  for key in ("max_rows", "num_integer", "num_categorical", "block_rows"):
    low = 1 if key == "block_rows" else 0
    if not isinstance(out[key], int) or out[key] < low:
      raise UserError(f"data.options.{key}={out[key]!r} must be an integer >= {low}")
  if not isinstance(out["separator"], str) or not out["separator"]:
    raise UserError(f"data.options.separator={out['separator']!r} must be a non-empty string")
  duplicates.check_policy(out["duplicates"])
  for key in ("user_column", "item_column"):
    if out[key] and out[key] not in categorical_names(out):
      raise UserError(f"data.options.{key}={out[key]!r} is not a categorical column; valid: '' (a constant id) or "
                      f"C1..C{out['num_categorical']}")
  return out


def integer_names(options: dict) -> List[str]:
  return [f"I{k}" for k in range(1, options["num_integer"] + 1)]


def categorical_names(options: dict) -> List[str]:
  return [f"C{k}" for k in range(1, options["num_categorical"] + 1)]


class _Block:
  """Valid lines of one block, checked line by line; `columns()` converts them into arrays."""

  def __init__(self, report: FileReport, options: dict):
    self.report, self.options = report, options
    self.num_integer, self.sep = options["num_integer"], options["separator"]
    self.expected = 1 + options["num_integer"] + options["num_categorical"]
    self.labels: List[int] = []
    self.numbers: List[Tuple[float, ...]] = []
    self.categories: List[Tuple[str, ...]] = []
    self.lines: List[int] = []

  def __len__(self) -> int:
    return len(self.lines)

  def add(self, number: int, text: str) -> None:
    fields = text.split(self.sep)
    if len(fields) != self.expected:
      return self.report.bad(number, "wrong column count", f"{len(fields)} columns, expected {self.expected}")
    label = LABELS.get(fields[0].strip())
    if label is None:
      return self.report.bad(number, "invalid label", f"{fields[0][:20]!r} is not 0 or 1")
    end = 1 + self.num_integer
    ints = fields[1:end]
    try:
      values = tuple([float(int(v)) if v else math.nan for v in ints])
      if max(map(len, ints), default=0) >= LONG_INTEGER:   # may be beyond int64: checked exactly
        for k, v in enumerate(ints, 1):
          if v:
            int64(v, f"I{k}")
    except (ValueError, OverflowError):   # OverflowError: an integer too large for a float
      for k, v in enumerate(ints, 1):
        try:
          if v:
            int64(v, f"I{k}")
        except BadValue as e:
          return self.report.bad(number, e.reason, f"{e.detail} is not a 64-bit integer")
      raise AssertionError(f"line {number}: no bad integer among {ints}")
    self.report.keep()
    self.labels.append(label)
    # Tuples, not lists: the garbage collector stops tracking tuples of strings and floats, while a block of
    # lists would be rescanned by every collection (half the parsing time, measured).
    self.numbers.append(values)
    self.categories.append(tuple(fields[end:]))
    self.lines.append(number)

  def columns(self) -> Dict[str, np.ndarray]:
    n, options = len(self), self.options
    numbers = np.array(self.numbers, dtype=np.float32).reshape(n, self.num_integer)
    categories = np.array(self.categories, dtype=object).reshape(n, options["num_categorical"])
    names = categorical_names(options)
    cols = {"label": np.array(self.labels, dtype=np.int64)}
    for key, option in (("user_id", "user_column"), ("item_id", "item_column")):
      column = options[option]
      cols[key] = categories[:, names.index(column)].copy() if column else np.full(n, CONSTANT_ID, dtype=object)
    cols["timestamp"] = np.array(self.lines, dtype=np.int64)
    cols["order"] = cols["timestamp"].copy()
    cols.update({name: numbers[:, k].copy() for k, name in enumerate(integer_names(options))})
    cols.update({name: categories[:, k].copy() for k, name in enumerate(names)})
    return cols


def stream(path: str, options: dict, report: FileReport, account: SplitAccount,
           notes: dict) -> Iterator[Dict[str, np.ndarray]]:
  """Column blocks of at most `block_rows` valid lines, in file order; stops after `max_rows` valid lines. Counts
  identical consecutive valid lines in `notes` (the report's)."""
  notes["consecutive_repeats"] = 0
  max_rows, block_rows = options["max_rows"], options["block_rows"]
  block, kept = _Block(report, options), 0
  previous, repeats = None, 0
  for number, text in read_lines(path, report, "utf-8"):
    size = len(block)
    block.add(number, text)
    if len(block) > size:
      repeats += text == previous
      previous = text
      notes["consecutive_repeats"] = repeats
    if len(block) == block_rows or (max_rows and kept + len(block) == max_rows):
      kept += len(block)
      # Counted before the yield: the report is serialised once the last block is written.
      account.rows_read += len(block)
      yield block.columns()
      block = _Block(report, options)
      if max_rows and kept == max_rows:
        return
  if len(block):
    account.rows_read += len(block)
    yield block.columns()


class CriteoFormat:
  name = "criteo"
  homepage = "https://ailab.criteo.com/ressources/"
  description = ("Display-ad impressions (label = clicked) with 13 integer and 26 hashed categorical features, "
                 "in time order.")
  license = ("Criteo's terms, accepted on its site before downloading: the Kaggle Display Advertising Challenge "
             "data for non-commercial research use only; the 1TB Click Logs under CC BY-NC-SA 4.0")

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    check_options(options)
    if os.path.isfile(path):
      return {ROLE: path}
    return {ROLE: find_file(path, ["train.txt"], "criteo (the Kaggle Display Advertising Challenge's train.txt; "
                                                  "for a Terabyte day_N file set data.path to the file)")}

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    options = check_options(options)
    cols = {"label": "label", "user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer"}
    cols.update({name: "number" for name in integer_names(options)})
    cols.update({name: "category" for name in categorical_names(options)})
    return cols

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    options = check_options(options)
    path = files[ROLE]
    layout = (f"{options['separator']!r}-separated label, {options['num_integer']} integer and "
              f"{options['num_categorical']} categorical columns")
    file_report, account = report.file(ROLE, path, layout), report.split("full", path)
    return {"full": lambda: stream(path, options, file_report, account, report.notes)}


class Criteo(TableBuilder):
  """The TFDS builder `criteo`: Criteo-style CTR TSV: label, 13 integer and 26 categorical columns, streamed."""
  FORMAT = CriteoFormat()


DATASET = RealDataset(Criteo)
