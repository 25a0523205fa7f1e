"""Criteo display-advertising click logs, read from the official files unchanged: the Kaggle Display Advertising
Challenge's `train.txt` (45M impressions of 7 days) and the Terabyte Click Logs' `day_0` ... `day_23` files.

Tab-separated, no header, one impression per line in time order: the label (1 = clicked), 13 integer features
`I1..I13` (counts; may be negative, empty = missing) and 26 categorical features `C1..C26` (hashed to 8 hex digits
by Criteo; empty = missing). Columns: label, I1..I13 (numbers, NaN when empty), C1..C26 (kind "hex": each category
read as the hexadecimal number it is written as, int64, -1 when empty; so "0a", "A" and "a" are one value),
timestamp and order (both the line number: the file has no times, only their order), user_id and item_id.
Criteo has no users or items: both are the constant "0" unless `data.options.user_column` / `item_column` name a
categorical column to serve as that id (e.g. item_column="C3": the id is that column's value as 8 lower-case hex
digits, `format(v, "08x")`; a row with that column empty has the id "" and governance drops it); with constant ids
the per-user metrics (gauc, ndcg@K) are global ones. Kaggle's `test.txt` has no label column and is not read.

The file is streamed (`parse` returns a block generator, see formats/real_dataset.py): `max_rows` (0 = all) keeps the
first N valid lines, the usual way to sample the Kaggle file; `block_rows` is how many rows are held at once.
Other options: `num_integer`, `num_categorical` (13, 26), `separator` (tab), `user_column`, `item_column`,
`duplicates` (`drop` | `keep`, formats/duplicates.py; see below).

Reading: the file is read in chunks of whole lines (formats/lines.py `read_chunks`), each parsed at once by numpy
(formats/tsv_block.py) when every line in it is certainly valid; a chunk with anything irregular is parsed line by
line (`_Block`, ~20 times slower), which drops and counts each malformed line with its reason. Both give the same
rows and the same counts.

A line is malformed (dropped and counted against data.max_bad_fraction) when it has the wrong column count, a
label other than 0 or 1 ("invalid label"; nan too), an integer feature that is not an integer ("non-numeric
value") or beyond int64 ("value out of range"), or a categorical feature that is neither empty nor 1-8 hex digits
("invalid category").

Duplicates: the time of a row is its line number, so no two rows are exact duplicates (formats/duplicates.py: equal
in every column but `order`) and `duplicates=drop` drops none: two identical impressions are two impressions (the
same ad shown twice), as every Criteo benchmark reads them. Identical consecutive lines are kept under either policy
and counted in the report's notes as `consecutive_repeats`.
"""

from __future__ import annotations

import math
import os
import re
import string
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from rec_jax.data.formats import duplicates, tsv_block
from rec_jax.data.formats.lines import CHUNK_BYTES, chunk_lines, find_file, line_text, read_chunks
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
LONG_INTEGER = tsv_block.LONG_INTEGER
MISSING_CATEGORY = -1
# An integer field as the block parser (formats/tsv_block.py) reads it: an optional '-', then ASCII digits. int()
# also takes "1_000", " 5", "+5" and other scripts' digits ("١٢"); such a field is malformed, not a number.
_INTEGER = re.compile(r"-?[0-9]+")


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


def hex_ids(values: np.ndarray) -> np.ndarray:
  """Ids from a hex column: each value's 8 lower-case hex digits, "" when missing (-1)."""
  return np.array([format(v, "08x") if v >= 0 else "" for v in values.tolist()], dtype=object)


def _columns(labels: np.ndarray, numbers: np.ndarray, categories: np.ndarray, lines: np.ndarray,
             options: dict) -> Dict[str, np.ndarray]:
  """The stored columns of parsed lines: labels (n,), numbers (n, num_integer), categories (n, num_categorical),
  line numbers (n,)."""
  n, names = len(labels), categorical_names(options)
  cols = {"label": labels.astype(np.int64)}
  for key, option in (("user_id", "user_column"), ("item_id", "item_column")):
    column = options[option]
    cols[key] = hex_ids(categories[:, names.index(column)]) if column else np.full(n, CONSTANT_ID, dtype=object)
  cols["timestamp"] = lines.astype(np.int64)
  cols["order"] = cols["timestamp"].copy()
  cols.update({name: numbers[:, k].copy() for k, name in enumerate(integer_names(options))})
  cols.update({name: categories[:, k].copy() for k, name in enumerate(names)})
  return cols


class _Block:
  """Valid lines of one chunk, checked line by line; `columns()` converts them into arrays."""

  def __init__(self, report: FileReport, options: dict):
    self.report, self.options = report, options
    self.num_integer, self.sep = options["num_integer"], options["separator"]
    self.expected = 1 + options["num_integer"] + options["num_categorical"]
    self.labels: List[int] = []
    self.numbers: List[Tuple[float, ...]] = []
    self.categories: List[Tuple[int, ...]] = []
    self.lines: List[int] = []

  def __len__(self) -> int:
    return len(self.lines)

  def add(self, number: int, text: str) -> bool:
    """Whether line `number` is valid (kept); a malformed one is counted in the report."""
    fields = text.split(self.sep)
    if len(fields) != self.expected:
      return self._bad(number, "wrong column count", f"{len(fields)} columns, expected {self.expected}")
    label = LABELS.get(fields[0])   # exactly "0" or "1", as the block parser reads it (no " 1")
    if label is None:
      return self._bad(number, "invalid label", f"{fields[0][:20]!r} is not 0 or 1")
    end = 1 + self.num_integer
    ints = fields[1:end]
    for k, v in enumerate(ints, 1):
      if v and not _INTEGER.fullmatch(v):
        return self._bad(number, "non-numeric value", f"I{k}={v[:20]!r} is not an integer (an optional '-', then "
                                                      "the digits 0-9)")
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
          return self._bad(number, e.reason, f"{e.detail} is not a 64-bit integer")
      raise AssertionError(f"line {number}: no bad integer among {ints}")
    cats = fields[end:]
    for k, v in enumerate(cats, 1):
      # int(v, 16) also takes "0x1f", " 1f", "1_f" and "+1f": only plain hex digits are categories.
      if len(v) > tsv_block.HEX_DIGITS or v.strip(string.hexdigits):
        return self._bad(number, "invalid category", f"C{k}={v[:20]!r} is not 1-8 hex digits")
    self.report.keep()
    self.labels.append(label)
    # Tuples, not lists: the garbage collector stops tracking tuples of ints and floats, while a block of lists
    # would be rescanned by every collection (half the parsing time, measured).
    self.numbers.append(values)
    self.categories.append(tuple([int(v, 16) if v else MISSING_CATEGORY for v in cats]))
    self.lines.append(number)
    return True

  def _bad(self, number: int, reason: str, detail: str) -> bool:
    self.report.bad(number, reason, detail)
    return False

  def columns(self) -> Dict[str, np.ndarray]:
    n, options = len(self), self.options
    numbers = np.array(self.numbers, dtype=np.float32).reshape(n, self.num_integer)
    categories = np.array(self.categories, dtype=np.int64).reshape(n, options["num_categorical"])
    return _columns(np.array(self.labels, dtype=np.int64), numbers, categories, np.array(self.lines), options)


class _Blocks:
  """Column pieces in file order, given out in blocks of `size` rows (the last one shorter)."""

  def __init__(self, size: int):
    self.size, self.pieces, self.rows = size, [], 0

  def add(self, cols: Dict[str, np.ndarray]) -> Iterator[Dict[str, np.ndarray]]:
    n = len(cols["label"])
    if n:
      self.pieces.append(cols)
      self.rows += n
    while self.rows >= self.size:
      yield self._take(self.size)

  def rest(self) -> Iterator[Dict[str, np.ndarray]]:
    if self.rows:
      yield self._take(self.rows)

  def _take(self, n: int) -> Dict[str, np.ndarray]:
    whole = self.pieces[0] if len(self.pieces) == 1 else {
        k: np.concatenate([p[k] for p in self.pieces]) for k in self.pieces[0]}
    rest = len(whole["label"]) - n
    self.pieces = [{k: v[n:] for k, v in whole.items()}] if rest else []
    self.rows = rest
    return {k: v[:n] for k, v in whole.items()} if rest else whole


class _Repeats:
  """Identical consecutive valid lines (the report's note `consecutive_repeats`)."""

  def __init__(self):
    self.count, self.previous = 0, None

  def add(self, text: str) -> None:
    self.count += text == self.previous
    self.previous = text

  def add_rows(self, chunk: bytes, rows: tsv_block.Rows, count: int) -> None:
    """The first `count` lines of a chunk parsed at once (all valid, ASCII)."""
    if count:
      self.count += int(tsv_block.repeats(chunk, rows, count).sum())
      self.count += rows.line(chunk, 0) == self.previous
      self.previous = rows.line(chunk, count - 1)


def stream(path: str, options: dict, report: FileReport, account: SplitAccount,
           notes: dict) -> Iterator[Dict[str, np.ndarray]]:
  """Column blocks of `block_rows` valid lines (the last one shorter), in file order; stops after `max_rows` valid
  lines. Counts identical consecutive valid lines in `notes` (the report's)."""
  notes["consecutive_repeats"] = 0
  max_rows, blocks, repeats = options["max_rows"], _Blocks(options["block_rows"]), _Repeats()
  fast = tsv_block.fast_separator(options["separator"])
  kept = 0
  for first, chunk in read_chunks(path, CHUNK_BYTES):
    rows = None
    if fast and chunk is not None:
      rows = tsv_block.parse(chunk, options["num_integer"], options["num_categorical"], options["separator"])
    if rows is not None:
      take = len(rows) if not max_rows else min(len(rows), max_rows - kept)
      report.read(take)
      report.keep(take)
      repeats.add_rows(chunk, rows, take)
      cols = _columns(rows.labels[:take], rows.integers[:take], rows.categories[:take],
                      np.arange(first, first + take), options)
    else:
      cols = _per_line(path, first, chunk, report, options, max_rows - kept if max_rows else 0, repeats)
    kept += len(cols["label"])
    notes["consecutive_repeats"] = repeats.count
    for block in blocks.add(cols):
      # Counted before the yield: the report is serialised once the last block is written.
      account.rows_read += len(block["label"])
      yield block
    if max_rows and kept == max_rows:
      break
  for block in blocks.rest():
    account.rows_read += len(block["label"])
    yield block


def _per_line(path: str, first: int, chunk: Optional[bytes], report: FileReport, options: dict, limit: int,
              repeats: _Repeats) -> Dict[str, np.ndarray]:
  """The columns of a chunk's valid lines, read line by line (at most `limit`, 0: all; no line after the last
  one kept is read)."""
  block = _Block(report, options)
  for number, raw in enumerate(chunk_lines(chunk), first):
    if limit and len(block) == limit:
      break
    report.read()
    text = line_text(path, number, raw, report)
    if text is not None and block.add(number, text):
      repeats.add(text)
  return block.columns()


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
    cols.update({name: "hex" for name in categorical_names(options)})
    return cols

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    options = check_options(options)
    path = files[ROLE]
    layout = (f"{options['separator']!r}-separated label, {options['num_integer']} integer and "
              f"{options['num_categorical']} categorical columns")
    file_report, account = report.file(ROLE, path, layout), report.split("full", path)
    return {"full": lambda: stream(path, options, file_report, account, report.notes)}


class Criteo(TableBuilder):
  """The TFDS builder `criteo`: Criteo-style CTR TSV: label, 13 integer and 26 categorical columns, streamed; the
  numeric columns stored as raw bytes (formats/table_builder.py)."""
  FORMAT = CriteoFormat()
  BYTES_ENCODED = True


DATASET = RealDataset(Criteo)
