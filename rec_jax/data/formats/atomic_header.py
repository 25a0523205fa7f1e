"""The header line of a RecBole atomic file: tab-separated `field:type` columns (types token, token_seq, float,
float_seq), and finding a field of the wanted types in it (rec_jax/data/datasets/recbole_atomic.py)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from rec_jax.data.formats.lines import read_lines
from rec_jax.data.formats.source_report import FileReport
from rec_jax.errors import UserError

TYPES = ("token", "token_seq", "float", "float_seq")
Header = List[Tuple[str, str]]


def parse_header(text: str, path: str) -> Header:
  """[(field, type)] of a header line; a column without `:type`, an unknown type or a repeated field is an error
  (RecBole would fail on it too, and every later line depends on the header)."""
  header = []
  columns = text.split("\t")
  if len(columns) == 1 and ("," in text or ";" in text):
    raise UserError(f"{path}: header {text[:200]!r} is one column; atomic files are tab-separated, this one looks "
                    "comma- or semicolon-separated")
  for column in columns:
    field, colon, kind = column.strip().lstrip("\ufeff").rpartition(":")
    if not colon or not field:
      hint = " (is the header line missing? it looks like a data line)" if not header else ""
      raise UserError(f"{path}: header column {column[:80]!r} is not `field:type` (types: {', '.join(TYPES)}){hint}")
    if kind not in TYPES:
      raise UserError(f"{path}: header field {field!r} has unknown type {kind!r}; valid: {', '.join(TYPES)}")
    if any(field == f for f, _ in header):
      raise UserError(f"{path}: header field {field!r} appears twice")
    header.append((field, kind))
  return header


def read_header(path: str) -> Header:
  """The header of an atomic file, reading its first line only (columns() needs it before any parsing)."""
  lines = read_lines(path, FileReport(path), "utf-8", header=True)
  try:
    first = next(lines, None)
  finally:
    lines.close()
  if first is None:
    raise UserError(f"{path} is empty (0 lines); expected a header line of tab-separated `field:type` columns")
  return parse_header(first[1], path)


def field_index(header: Header, path: str, field: str, option: str, types: Sequence[str],
                 required: bool) -> Optional[int]:
  names = [f for f, _ in header]
  if field not in names:
    if required:
      raise UserError(f"{path}: no field {field!r} (data.options.{option}) in the header {names}")
    return None
  j = names.index(field)
  if header[j][1] not in types:
    raise UserError(f"{path}: field {field!r} is {header[j][1]}, expected {' or '.join(types)}")
  return j
