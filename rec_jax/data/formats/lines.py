"""Reading the lines of an official dataset file: transparent gzip, per-line decoding (a line that is not valid in
the file's declared encoding is dropped as "bad encoding", not the whole file), empty lines counted, and the file
that a format expects named in the error when it is missing."""

from __future__ import annotations

import gzip
import os
import shutil
from typing import Iterator, Sequence, Tuple

from rec_jax.data.formats.source_report import FileReport
from rec_jax.errors import UserError


def find_file(root: str, names: Sequence[str], what: str) -> str:
  """The first of `names` (relative to `root`; `.gz` variants are accepted too) that exists; else a
  FileNotFoundError naming what the format expects and where it looked."""
  for name in names:
    for candidate in (name, name + ".gz"):
      path = os.path.join(root, candidate)
      if os.path.isfile(path):
        return path
  raise FileNotFoundError(f"{what}: expected {' or '.join(repr(n) for n in names)} in {os.path.abspath(root)!r}, "
                          f"which holds {sorted(os.listdir(root))[:12] if os.path.isdir(root) else 'nothing (no such directory)'}")


def optional_file(root: str, names: Sequence[str]) -> str:
  """Like find_file, but '' when none exists (for files a format may or may not have)."""
  try:
    return find_file(root, names, "")
  except FileNotFoundError:
    return ""


def read_lines(path: str, report: FileReport, encoding: str = "utf-8",
               header: bool = False) -> Iterator[Tuple[int, str]]:
  """Yields (1-based line number, text without the line break) of each decodable, non-empty line; counts every
  line as read in `report` and drops empty and undecodable ones there. With `header`, line 1 is the column header:
  yielded as line 1 but not counted (callers parse it, they do not keep it)."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    for number, raw in enumerate(f, start=1):
      raw = raw.rstrip(b"\r\n")
      if not (header and number == 1):
        report.read()
      try:
        text = raw.decode(encoding)
      except UnicodeDecodeError as e:
        if header and number == 1:
          raise UserError(f"{path}: the header line is not valid {encoding}: {e}") from None
        report.bad(number, "bad encoding", f"not valid {encoding} at byte {e.start}")
        continue
      if not text.strip():
        if header and number == 1:
          raise UserError(f"{path}: the first line should be the column header and is empty")
        report.bad(number, "empty line")
        continue
      yield number, text


def read_header(lines: Iterator[Tuple[int, str]], path: str, expected: Sequence[str], sep: str = ",") -> list:
  """Consumes the header line of `lines` and checks that it starts with the `expected` column names."""
  first = next(lines, None)
  if first is None:
    raise UserError(f"{path} is empty; expected a header line {sep.join(expected)!r}")
  fields = [f.strip() for f in first[1].split(sep)]
  if fields[:len(expected)] != list(expected):
    raise UserError(f"{path}: header {first[1][:200]!r} does not start with the expected columns {sep.join(expected)!r}")
  return fields


def locate_txt(path: str, file: str, what: str) -> str:
  """The one .txt (or .txt.gz) file of a sequence format: `path` itself, `file` inside it (data.options.file), or
  the directory's only such file (several: a named error)."""
  if os.path.isfile(path):
    return path
  if file:
    return find_file(path, [file], f"{what} (data.options.file)")
  found = sorted(n for n in os.listdir(path) if n.endswith((".txt", ".txt.gz"))) if os.path.isdir(path) else []
  if len(found) > 1:
    raise UserError(f"{os.path.abspath(path)!r} holds several .txt files {found}; set data.options.file to one")
  if not found:
    find_file(path, ["*.txt"], what)
  return os.path.join(path, found[0])


def own_directory(downloaded: str, directory: str, name: str) -> str:
  """A copy of the download `downloaded` as `<directory>/<name>.txt` beside it; returns that directory. TFDS names
  downloads by a hash in a directory shared with other datasets, so a format's locate would not find it."""
  root = os.path.join(os.path.dirname(downloaded), directory)
  target = os.path.join(root, f"{name}.txt")
  if not os.path.isfile(target) or os.path.getsize(target) != os.path.getsize(downloaded):
    os.makedirs(root, exist_ok=True)
    shutil.copyfile(downloaded, target)
  return root
