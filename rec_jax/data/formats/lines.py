"""Reading the lines of an official dataset file: transparent gzip, per-line decoding (a line that is not valid in
the file's declared encoding is dropped as "bad encoding", not the whole file), empty lines counted, and the file
that a format expects named in the error when it is missing.

A line is malformed, and dropped with its reason, when it has a NUL byte ("NUL byte": text files have none; a file
of them is binary or UTF-16), is longer than MAX_LINE_BYTES ("line too long": read in pieces, never held whole) or
is not valid in the file's encoding ("bad encoding"). A file that cannot be read to its end is a UserError naming
it: a truncated or corrupt .gz, a file ending in .gz that is not gzip, a directory, an OS error. A UTF-8 byte-order
mark before line 1 is skipped.
"""

from __future__ import annotations

import codecs
import gzip
import os
import shutil
import zlib
from typing import Iterator, List, Optional, Sequence, Tuple

from rec_jax.data.formats.source_report import FileReport
from rec_jax.errors import UserError, describe_os_error

# No official file has lines near this long (Amazon's longest metadata lines are a few hundred KB).
MAX_LINE_BYTES = 8 << 20
# Bytes read at once by `read_chunks`.
CHUNK_BYTES = 4 << 20


def find_file(root: str, names: Sequence[str], what: str) -> str:
  """The first of `names` (relative to `root`; `.gz` variants are accepted too) that exists; else a
  FileNotFoundError naming what the format expects and where it looked."""
  prefix = f"{what}: " if what else ""
  if os.path.isfile(root):
    raise UserError(f"{prefix}data.path {os.path.abspath(root)!r} is a file; expected a directory holding "
                    f"{' or '.join(repr(n) for n in names)}")
  for name in names:
    for candidate in (name, name + ".gz"):
      path = os.path.join(root, candidate)
      if os.path.isfile(path):
        return path
      if os.path.isdir(path):
        raise UserError(f"{prefix}{os.path.abspath(path)!r} is a directory; expected the file {candidate!r} there")
  raise FileNotFoundError(f"{what}: expected {' or '.join(repr(n) for n in names)} in {os.path.abspath(root)!r}, "
                          f"which holds {sorted(os.listdir(root))[:12] if os.path.isdir(root) else 'nothing (no such directory)'}")


def optional_file(root: str, names: Sequence[str]) -> str:
  """Like find_file, but '' when none exists (for files a format may or may not have); a directory of that name
  is still an error (silently reading without the file would be wrong)."""
  try:
    return find_file(root, names, "")
  except FileNotFoundError:
    return ""


def _read_error(path: str, number: int, e: Exception) -> str:
  """The message of a file that cannot be read on from line `number` + 1."""
  where = f"after line {number}" if number else "at its start"
  if isinstance(e, EOFError):
    return (f"{path}: the gzip file is truncated (its data ends {where}, inside a line or before the gzip end "
            "marker); download it again")
  if isinstance(e, gzip.BadGzipFile) and "Not a gzipped file" in str(e):
    return (f"{path} ends in .gz but is not a gzip file ({e}); if it is plain text, rename it without .gz")
  if isinstance(e, (gzip.BadGzipFile, zlib.error)):
    return f"{path}: the gzip file is corrupt {where} ({e}); download it again"
  if isinstance(e, OSError):
    return f"{path}: cannot be read {where}: {describe_os_error(e)}"
  raise e


def _raw_lines(path: str) -> Iterator[Tuple[int, Optional[bytes]]]:
  """(1-based line number, its bytes with the line break; None for a line over MAX_LINE_BYTES)."""
  if os.path.isdir(path):
    raise UserError(f"{path} is a directory; expected a file")
  number = 0
  try:
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
      while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
          return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
          while raw and not raw.endswith(b"\n"):   # the rest of the line, in pieces
            raw = f.readline(1 << 20)
          yield number, None
          continue
        yield number, raw
  except (EOFError, OSError, zlib.error) as e:   # gzip.BadGzipFile is an OSError
    raise UserError(_read_error(path, number, e)) from None


def read_lines(path: str, report: FileReport, encoding: str = "utf-8",
               header: bool = False) -> Iterator[Tuple[int, str]]:
  """Yields (1-based line number, text without the line break) of each decodable, non-empty line; counts every
  line as read in `report` and drops empty, undecodable, NUL-holding and over-long ones there. With `header`, line
  1 is the column header: yielded as line 1 but not counted (callers parse it, they do not keep it)."""
  for number, raw in _raw_lines(path):
    is_header = header and number == 1
    if is_header:
      report.header = True
    else:
      report.read()
    text = line_text(path, number, raw, report, encoding, is_header)
    if text is not None:
      yield number, text


def line_text(path: str, number: int, raw: Optional[bytes], report: FileReport, encoding: str = "utf-8",
              is_header: bool = False) -> Optional[str]:
  """The text of line `number` (its bytes `raw`, None when over MAX_LINE_BYTES; already counted as read), or None
  when it is dropped (counted in `report` with its reason): one line's checks of `read_lines`."""
  if raw is None:
    if is_header:
      raise UserError(f"{path}: the header line is longer than {MAX_LINE_BYTES} bytes; is it a {encoding} text "
                      "file with line breaks?")
    return report.bad(number, "line too long", f"over {MAX_LINE_BYTES} bytes")
  if number == 1 and raw.startswith(codecs.BOM_UTF8):
    raw = raw[len(codecs.BOM_UTF8):]
  raw = raw.rstrip(b"\r\n")
  try:
    text = raw.decode(encoding)
  except UnicodeDecodeError as e:
    if is_header:
      raise UserError(f"{path}: the header line is not valid {encoding}: {e}") from None
    return report.bad(number, "bad encoding", f"not valid {encoding} at byte {e.start}")
  nul = raw.find(b"\0")   # valid UTF-8 (and Latin-1), but no text file has one
  if nul >= 0:
    if is_header:
      raise UserError(f"{path}: the header line has a NUL byte (at byte {nul}); is it a binary, compressed or "
                      "UTF-16 file?")
    return report.bad(number, "NUL byte", f"at byte {nul}")
  if not text.strip():
    if is_header:
      raise UserError(f"{path}: the first line should be the column header and is empty")
    return report.bad(number, "empty line")
  return text


def read_chunks(path: str, size: int = CHUNK_BYTES) -> Iterator[Tuple[int, bytes]]:
  """(number of the chunk's first line, 1-based; about `size` bytes of whole lines) of the file, every line but a
  last one without a break ending in b"\\n"; for formats that parse many lines at once (formats/tsv_block.py) and
  read a chunk they cannot line by line with `chunk_lines`. A line over MAX_LINE_BYTES is its own chunk, None
  (read in pieces, never held whole). Read errors are UserErrors as in `read_lines`."""
  if os.path.isdir(path):
    raise UserError(f"{path} is a directory; expected a file")
  number, pending = 1, b""
  try:
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
      while True:
        data = f.read(size)
        if not data:
          if pending:
            yield number, pending
          return
        chunk = pending + data if pending else data
        cut = chunk.rfind(b"\n") + 1
        if cut:
          yield number, chunk[:cut]
          number += chunk.count(b"\n", 0, cut)
          pending = chunk[cut:]
        else:
          pending = chunk
        if len(pending) > MAX_LINE_BYTES:   # a line too long to hold: skip the rest of it
          while b"\n" not in pending:
            pending = f.read(1 << 20)
            if not pending:
              break
          yield number, None
          number += 1
          pending = pending[pending.find(b"\n") + 1:] if pending else b""
  except (EOFError, OSError, zlib.error) as e:   # gzip.BadGzipFile is an OSError
    raise UserError(_read_error(path, number - 1, e)) from None


def chunk_lines(chunk: Optional[bytes]) -> List[Optional[bytes]]:
  """The lines of a `read_chunks` chunk, without their b"\\n" (as `line_text` takes them: it strips the break); None
  for a line over MAX_LINE_BYTES."""
  if chunk is None:
    return [None]
  lines = chunk.split(b"\n")
  if not lines[-1]:   # the break of the last line
    lines.pop()
  return [None if len(line) > MAX_LINE_BYTES else line for line in lines]


def read_header(lines: Iterator[Tuple[int, str]], path: str, expected: Sequence[str], sep: str = ",") -> list:
  """Consumes the header line of `lines` and checks that it starts with the `expected` column names."""
  first = next(lines, None)
  if first is None:
    raise UserError(f"{path} is empty (0 lines); expected a header line {sep.join(expected)!r}")
  fields = [f.strip() for f in first[1].split(sep)]
  if fields[:len(expected)] != list(expected):
    hint = ""
    if len(fields) == len(expected) and all(f.lstrip("+-").replace(".", "", 1).isdigit() for f in fields[:2]):
      hint = " (it looks like a data line: is the header line missing?)"
    elif len(fields) == 1 and len(expected) > 1:
      hint = f" (one column: is the delimiter {sep!r}?)"
    raise UserError(f"{path}: header {first[1][:200]!r} does not start with the expected columns "
                    f"{sep.join(expected)!r}{hint}")
  return fields


def locate_txt(path: str, file: str, what: str) -> str:
  """The one .txt (or .txt.gz) file of a sequence format: `path` itself, `file` inside it (data.options.file), or
  the directory's only such file (several: a named error)."""
  if os.path.isfile(path):
    return path
  if file:
    return find_file(path, [file], f"{what} (data.options.file)")
  found = sorted(n for n in os.listdir(path) if n.endswith((".txt", ".txt.gz"))) if os.path.isdir(path) else []
  folders = [n for n in found if not os.path.isfile(os.path.join(path, n))]
  if folders and len(folders) == len(found):
    raise UserError(f"{what}: {os.path.abspath(os.path.join(path, folders[0]))!r} is a directory; expected the "
                    ".txt file there")
  found = [n for n in found if n not in folders]
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
