"""RecBole atomic files (https://recbole.io/docs/user_guide/data/atomic_files.html) and UniSRec's prepared datasets,
read unchanged: tab-separated, the first line a header of `field:type` columns, types token, token_seq (tokens
separated by spaces), float and float_seq.
- interactions: `<dataset>.inter` (user_id:token, item_id:token, rating:float, timestamp:float, ...), stored as
  split `full`, and/or the predefined split files `<dataset>.train.inter`, `.valid.inter`, `.test.inter`, stored as
  `train`, `validation`, `test`. UniSRec's sequence form has `user_id:token item_id_list:token_seq item_id:token`:
  the user's history (oldest first), then the target item;
- side files (optional): `<dataset>.item` and UniSRec's `<dataset>.text` (item_id:token, text:token_seq) describe
  items, `<dataset>.user` users; each is keyed by the item (user) field. UniSRec's `.inter` files hold item
  indices while its `.text` holds the raw item ids: with a `<dataset>.item2index` (`.user2index`) file present, the
  side files' raw ids are translated to the indices.
`data.path` is the dataset directory (the dataset name is its basename, as in RecBole) or one .inter file.
Options: `dataset` (overrides the name), `user_field`, `item_field`, `rating_field`, `time_field`,
`sequence_field` (the header fields read as user, item, rating, time, history), `unknown_ids` (`drop` | `oov`:
interactions whose item is in none of the item side files, or whose user is not in the .user file), `duplicates`
(`drop` | `keep`, formats/duplicates.py: per interaction file, rows repeating an earlier one in user, item, rating,
time and history).
Columns: user_id, item_id, rating (when the header has it), timestamp (the time field rounded to an integer; the
row's order when there is none), order (the row's position in the files, unique across them), history (the
sequence field, when present); side fields by name (token -> category, token_seq -> text, float -> number,
float_seq not read), prefixed `item_` / `user_` when the name is taken. Other .inter fields are not read.

An empty float field is missing (NaN), as RecBole reads it; a written `nan` or `inf` is malformed ("non-finite
value"), as is a number beyond float32 ("value out of range") and a time beyond int64 ("time out of range"): the
line is dropped and counted. A missing rating gives no label when the label derives from the rating (real_dataset.py).
Duplicates: without a time field, a plain .inter row's time is its position (its line), so no two rows are exact
duplicates (the same user and item twice may be two interactions) and `duplicates=drop` drops none; in UniSRec's
sequence form the time is the history's length, so a repeated (user, history, item) line is a duplicate.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rec_jax.data.formats import duplicates, side_tables
from rec_jax.data.formats.atomic_header import field_index, read_header
from rec_jax.data.formats.lines import find_file, optional_file, read_lines
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import BadValue, finite_float
from rec_jax.errors import UserError

SIDE_KINDS = {"token": "category", "token_seq": "text", "float": "number"}
# (file role, stored split), in the order their rows are numbered.
INTER_ROLES = (("inter", "full"), ("train", "train"), ("valid", "validation"), ("test", "test"))
SPLIT_SUFFIXES = ("train", "valid", "test")
# Side files in the order their columns are named: .text after .item, so `.item`'s fields keep their names.
SIDE_ROLES = (("item", "item"), ("text", "item"), ("user", "user"))
# Column names that rec_jax/data/formats/real_dataset.py gives a meaning of its own: a side field so named is prefixed.
RESERVED = ("label", "history", "_split")
# UniSRec's id maps (raw id \t index, no header): its .inter files hold the indices, its .text the raw item ids.
INDEX_ROLES = (("item2index", "item"), ("user2index", "user"))


@dataclasses.dataclass(frozen=True)
class Options:
  dataset: str = ""
  user_field: str = "user_id"
  item_field: str = "item_id"
  rating_field: str = "rating"
  time_field: str = "timestamp"
  sequence_field: str = "item_id_list"
  unknown_ids: str = "drop"
  duplicates: str = "drop"


def parse_options(options: dict) -> Options:
  opts = format_options("recbole_atomic", options, Options)
  side_tables.check_policy(opts.unknown_ids)
  duplicates.check_policy(opts.duplicates)
  return opts


@dataclasses.dataclass(frozen=True)
class InterLayout:
  """Where the fields read sit in the .inter header (None: absent)."""
  names: Tuple[str, ...]
  user: int
  item: int
  rating: Optional[int]
  time: Optional[int]
  sequence: Optional[int]
  ignored: Tuple[str, ...]

  def columns(self) -> Dict[str, str]:
    cols = {"user_id": "id", "item_id": "id", "rating": "number", "timestamp": "integer", "order": "integer",
            "history": "id_list"}
    absent = {"rating": self.rating is None, "history": self.sequence is None}
    return {name: kind for name, kind in cols.items() if not absent.get(name)}


def inter_layout(files: Dict[str, str], opts: Options) -> InterLayout:
  """The layout of the interaction files; they must share one header (RecBole's split files do)."""
  roles = [role for role, _ in INTER_ROLES if role in files]
  path = files[roles[0]]
  header = read_header(path)
  for role in roles[1:]:
    other = read_header(files[role])
    if other != header:
      raise UserError(f"{files[role]}: header {other} differs from {path}'s {header}; the interaction files of "
                      "one dataset must share a header")
  index = functools.partial(field_index, header, path)
  layout = InterLayout(tuple(f for f, _ in header), index(opts.user_field, "user_field", ("token",), True),
                       index(opts.item_field, "item_field", ("token",), True),
                       index(opts.rating_field, "rating_field", ("float",), False),
                       index(opts.time_field, "time_field", ("float",), False),
                       index(opts.sequence_field, "sequence_field", ("token_seq",), False), ())
  used = {layout.user, layout.item, layout.rating, layout.time, layout.sequence}
  return dataclasses.replace(layout, ignored=tuple(f"{f}:{t}" for j, (f, t) in enumerate(header) if j not in used))


@dataclasses.dataclass(frozen=True)
class SideLayout:
  """A side file: its key field, the fields stored as (header index, column, type) and those skipped."""
  role: str
  side: str
  path: str
  width: int
  key: int
  fields: Tuple[Tuple[int, str, str], ...]
  skipped: Tuple[str, ...]


def side_layouts(files: Dict[str, str], opts: Options, taken: Sequence[str]) -> List[SideLayout]:
  """The side files present, their fields named by field name, or `item_` / `user_` + name when taken."""
  taken, out = set(taken) | set(RESERVED), []
  for role, side in SIDE_ROLES:
    if role not in files:
      continue
    header, key_field = read_header(files[role]), opts.item_field if side == "item" else opts.user_field
    key = field_index(header, files[role], key_field, f"{side}_field", ("token",), True)
    fields = []
    for j, (field, kind) in enumerate(header):
      if j == key or kind == "float_seq":
        continue
      name = field if field not in taken else f"{side}_{field}"
      if name in taken:
        raise UserError(f"{files[role]}: field {field!r} would be column {name!r}, which another field already is")
      taken.add(name)
      fields.append((j, name, kind))
    skipped = tuple(f"{f}:{t}" for f, t in header if t == "float_seq")
    out.append(SideLayout(role, side, files[role], len(header), key, tuple(fields), skipped))
  return out


_Bad = BadValue   # a malformed line: its drop reason and detail


def _number(text: str, field: str, missing_ok: bool) -> float:
  """A finite float field; empty is missing (NaN) where `missing_ok`, as RecBole fills missing floats."""
  if not text.strip() and missing_ok:
    return float("nan")
  return finite_float(text, field)


def _value(text: str, kind: str, field: str):
  if kind == "float":
    return _number(text, field, missing_ok=True)
  return " ".join(text.split()) if kind == "token_seq" else text.strip()


def _split_line(text: str, width: int) -> List[str]:
  fields = text.split("\t")
  if len(fields) != width:
    raise _Bad("wrong column count", f"{len(fields)} columns, expected {width} (the header's)")
  return fields


def _inter_row(text: str, layout: InterLayout, order: int) -> tuple:
  """(user, item, rating, timestamp, order, history) of one interaction line."""
  fields = _split_line(text, len(layout.names))
  user, item = fields[layout.user].strip(), fields[layout.item].strip()
  if not (user and item):
    raise _Bad("missing id", f"user {user!r}, item {item!r}")
  rating = 0.0
  if layout.rating is not None:
    rating = _number(fields[layout.rating], layout.names[layout.rating], missing_ok=True)
  history = fields[layout.sequence].split() if layout.sequence is not None else None
  # Without a time field, a sequence row's position in its user's sequence is its time (UniSRec lists each user's
  # training rows newest first, so the line order would reverse them); else the line order is.
  timestamp = len(history) if history is not None else order
  if layout.time is not None:
    try:   # the time orders rows: it cannot be missing
      value = finite_float(fields[layout.time], layout.names[layout.time])
    except BadValue as e:
      raise _Bad("time out of range" if e.reason != "non-numeric value" else e.reason, e.detail) from None
    if not abs(value) < 2 ** 63:
      raise _Bad("time out of range", f"{layout.names[layout.time]} {fields[layout.time][:40]!r}")
    timestamp = int(round(value))
  return user, item, rating, timestamp, order, history


def read_inter(path: str, report: FileReport, layout: InterLayout, offset: int) -> Dict[str, np.ndarray]:
  """The interaction rows of one .inter file; `order` is `offset` + the line number."""
  rows = []
  lines = read_lines(path, report, "utf-8", header=True)
  next(lines, None)   # the header, read by inter_layout
  for number, text in lines:
    try:
      rows.append(_inter_row(text, layout, offset + number))
    except _Bad as e:
      report.bad(number, e.reason, e.detail)
      continue
    report.keep()
  user, item, rating, ts, order, history = zip(*rows) if rows else ((),) * 6
  out = {"user_id": np.array(user, dtype=object), "item_id": np.array(item, dtype=object)}
  if layout.rating is not None:
    out["rating"] = np.array(rating, dtype=np.float32)
  out.update({"timestamp": np.array(ts, dtype=np.int64), "order": np.array(order, dtype=np.int64)})
  if layout.sequence is not None:
    # Assigned, not np.array(...): lists of equal length would become a 2-D array.
    out["history"] = np.empty(len(history), dtype=object)
    out["history"][:] = list(history)
  return out


def read_side(layout: SideLayout, report: FileReport) -> Dict[str, tuple]:
  """{id: values of layout.fields} of one side file; a malformed line is dropped (its id then counts as unknown)."""
  table = {}
  lines = read_lines(layout.path, report, "utf-8", header=True)
  next(lines, None)   # the header, read by side_layouts
  for number, text in lines:
    try:
      fields = _split_line(text, layout.width)
      key = fields[layout.key].strip()
      if not key:
        raise _Bad("missing id", f"{layout.side} id is empty")
      if key in table:
        raise _Bad("duplicate id", key)
      table[key] = tuple(_value(fields[j], kind, name) for j, name, kind in layout.fields)
    except _Bad as e:
      report.bad(number, e.reason, e.detail)
      continue
    report.keep()
  return table


def read_index(path: str, report: FileReport) -> Dict[str, str]:
  """{raw id: index} of a UniSRec `.item2index` / `.user2index` file."""
  index = {}
  for number, text in read_lines(path, report, "utf-8"):
    fields = [f.strip() for f in text.split("\t")]
    if len(fields) != 2:
      report.bad(number, "wrong column count", f"{len(fields)} columns, expected 2 (raw id, index)")
    elif not all(fields):
      report.bad(number, "missing id", f"raw id {fields[0]!r}, index {fields[1]!r}")
    elif fields[0] in index:
      report.bad(number, "duplicate id", fields[0])
    else:
      report.keep()
      index[fields[0]] = fields[1]
  return index


def merge_tables(layouts: Sequence[SideLayout], tables: Sequence[Dict[str, tuple]]) -> Dict[str, tuple]:
  """One table of a side's files (.item and .text): an id any of them lists is known, with the fields the others
  lack missing (imputed by governance), so a .text without an .item (UniSRec's case) is a full item table."""
  keys = dict.fromkeys(k for t in tables for k in t)
  gaps = [tuple(float("nan") if kind == "float" else "" for _, _, kind in s.fields) for s in layouts]
  return {k: sum((t.get(k, gap) for t, gap in zip(tables, gaps)), ()) for k in keys}


def _strip_suffix(name: str, suffix: str) -> str:
  return name[:-len(suffix)] if name.endswith(suffix) else name


class RecboleAtomicFormat:
  name = "recbole_atomic"
  homepage = "https://recbole.io/dataset_list.html"
  description = ("RecBole atomic files (.inter, .item, .user) and UniSRec's prepared datasets (split .inter files "
                 "with item histories, item .text).")
  license = ("Each dataset keeps its original licence (e.g. MovieLens: GroupLens research licence; Amazon: research "
             "use); RecBole's converted files add none. See the source of the dataset on RecBole's dataset list.")

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    opts = parse_options(options)
    if os.path.isfile(path):
      root, name = os.path.split(path)
      base = _strip_suffix(_strip_suffix(name, ".gz"), ".inter")
      if base == _strip_suffix(name, ".gz"):
        raise UserError(f"data.path={path!r} is a file but not a RecBole .inter file; give the .inter file or the "
                        "dataset directory")
      stem, dot, suffix = base.rpartition(".")
      if dot and suffix in SPLIT_SUFFIXES:
        dataset = opts.dataset or stem
        files = self._inter_files(root, dataset, splits_only=True)
      else:
        dataset, files = opts.dataset or base, {"inter": path}
    else:
      root = path
      dataset = opts.dataset or os.path.basename(os.path.normpath(path))
      files = self._inter_files(root, dataset, splits_only=False)
    for role, _ in SIDE_ROLES + INDEX_ROLES:
      found = optional_file(root, [f"{dataset}.{role}"])
      files.update({role: found} if found else {})
    return files

  def _inter_files(self, root: str, dataset: str, splits_only: bool) -> Dict[str, str]:
    """`<dataset>.inter` and the split files `<dataset>.{train,valid,test}.inter` (all three or none)."""
    what = (f"recbole_atomic dataset {dataset!r} (the name is data.path's basename; data.options.dataset sets "
            "another)")
    splits = {role: optional_file(root, [f"{dataset}.{role}.inter"]) for role in SPLIT_SUFFIXES}
    if any(splits.values()) or splits_only:
      for role, found in splits.items():
        if not found:
          find_file(root, [f"{dataset}.{role}.inter"], what + ", split files")
    full = "" if splits_only else optional_file(root, [f"{dataset}.inter"])
    if not full and not any(splits.values()):
      find_file(root, [f"{dataset}.inter", f"{dataset}.train.inter"], what)
    return {**({"inter": full} if full else {}), **{k: v for k, v in splits.items() if v}}

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    opts = parse_options(options)
    cols = inter_layout(files, opts).columns()
    for layout in side_layouts(files, opts, list(cols)):
      cols.update({name: SIDE_KINDS[kind] for _, name, kind in layout.fields})
    return cols

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    opts = parse_options(options)
    layout = inter_layout(files, opts)
    sides = side_layouts(files, opts, list(layout.columns()))
    joins = self._side_tables(files, sides, report)
    numbers = [name for s in sides for _, name, kind in s.fields if kind == "float"]
    self._notes(report, layout, sides)
    out, offset = {}, 0
    for role, split in INTER_ROLES:
      if role not in files:
        continue
      file_report = report.file(role, files[role], f"tab-separated fields {list(layout.names)} (the header's)")
      rows = read_inter(files[role], file_report, layout, offset)
      offset += file_report.lines_read + 1   # + the header line: orders stay unique across files
      account = report.split(split, files[role])
      account.rows_read = len(rows["user_id"])
      # Before the join: ids replaced by <oov> would make different rows look equal.
      rows = duplicates.apply(rows, opts.duplicates, account, report, split)
      for side, table, names in joins:
        missing = tuple(float("nan") if n in numbers else "" for n in names)
        rows = side_tables.join(rows, f"{side}_id", table, names, opts.unknown_ids, account, side, missing)
      out[split] = {k: v.astype(np.float32) if k in numbers else v for k, v in rows.items()}
    return out

  def _side_tables(self, files: Dict[str, str], sides: Sequence[SideLayout], report: SourceReport) -> list:
    """[(side, {id: values}, column names)] to join, user side first; keys of raw ids translated by the side's
    UniSRec index file, when there is one (an id it does not list is taken to be an index already)."""
    joins = []
    for role, side in INDEX_ROLES[::-1]:
      of_side = [s for s in sides if s.side == side]
      if not of_side:
        continue
      tables = [read_side(s, report.file(s.role, s.path, "tab-separated fields as its header names them"))
                for s in of_side]
      if role in files:
        index = read_index(files[role], report.file(role, files[role], "tab-separated `raw id` `index` lines"))
        report.notes.setdefault("ids_translated", {}).update(
            {s.role: sum(k in index for k in t) for s, t in zip(of_side, tables)})
        tables = [{index.get(k, k): v for k, v in t.items()} for t in tables]
      joins.append((side, merge_tables(of_side, tables), [name for s in of_side for _, name, _ in s.fields]))
    return joins

  def _notes(self, report: SourceReport, layout: InterLayout, sides: Sequence[SideLayout]) -> None:
    skipped = {s.role: list(s.skipped) for s in sides if s.skipped}
    if skipped:
      report.notes["skipped_fields"] = skipped
      report.notes["skipped_fields_why"] = "float_seq fields are not read (no column kind holds lists of numbers)"
    if layout.ignored:
      report.notes["unread_inter_fields"] = list(layout.ignored)


class RecboleAtomic(TableBuilder):
  """The TFDS builder `recbole_atomic`: RecBole / UniSRec atomic files: .inter, .item, .user, .text."""
  FORMAT = RecboleAtomicFormat()


DATASET = RealDataset(RecboleAtomic)
