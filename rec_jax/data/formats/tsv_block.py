"""Parsing a whole chunk of regular separated lines at once with numpy: a label of 0 or 1, decimal integer columns and
hexadecimal categorical columns (Criteo's layout, rec_jax/data/datasets/criteo.py), about 20 times faster than
splitting each line in Python.

The chunk's bytes are one uint8 array. The separators and line breaks are found with one comparison; every line
must have exactly `fields - 1` separators and one break, and then field g of the chunk spans the bytes between
separator g - 1 and separator g. A field is read as the 8 bytes ending at its end, one (unaligned) uint64 per field
(two or three for a long integer), and converted with SWAR arithmetic, 8 characters per operation: the bytes
before the field's start are replaced by '0', every byte is checked to be a digit (a hex digit), and the digits
are combined by multiplications and shifts within the word (simdjson's eight-digit parse; for hex, nibbles paired
into bytes). No per-field Python code runs.

Only lines that are certainly valid, and whose values are certainly those the per-line parser gives, are parsed
here: `parse` returns None for a chunk with anything else in it (a wrong field count, an empty line, a label other
than `0` or `1`, an integer with a character other than digits after an optional `-`, or of LONG_INTEGER or more
characters, a category of other than 1-8 hex digits, any other byte such as a '\\r', a NUL or a non-ASCII one),
and the caller parses that chunk line by line, which counts every malformed line with its reason. Every byte of
a parsed chunk belongs to a checked field, a separator or a break.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

# An integer field this long may be beyond int64 (19 digits); such a chunk is left to the exact per-line check.
LONG_INTEGER = 19
HEX_DIGITS = 8
_NEWLINE, _MINUS = ord("\n"), ord("-")
# Bytes before the chunk in its buffer: the three words of a long integer field at the chunk's start.
_PAD = 24


def fast_separator(sep: str) -> bool:
  """Whether lines separated by `sep` can be parsed here: one ASCII byte that is no digit, letter, sign or break."""
  return len(sep) == 1 and sep.isascii() and not sep.isalnum() and sep not in "-+\n\r"


@dataclasses.dataclass
class Rows:
  """The parsed lines of a chunk, in order: labels (n,) int64, integers (n, num_integer) float32 (NaN when
  empty), categories (n, num_categorical) int64 (-1 when empty), and where each line starts and ends (its break)
  in the chunk (n,)."""
  labels: np.ndarray
  integers: np.ndarray
  categories: np.ndarray
  starts: np.ndarray
  ends: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)

  def line(self, chunk: bytes, k: int) -> str:
    """The text of line k (without its break)."""
    return chunk[self.starts[k]:self.ends[k]].decode("ascii")


def repeats(chunk: bytes, rows: Rows, count: int) -> np.ndarray:
  """(count,) bool: whether each of the first `count` lines is identical to the line before it (False for the
  first). Lines of equal length and values are compared byte by byte (equal values may be written differently:
  "0a" and "a")."""
  same = np.zeros(count, dtype=bool)
  if count < 2:
    return same
  lengths = (rows.ends - rows.starts)[:count]
  ints = rows.integers[:count].view(np.uint32)   # bit patterns: NaN equals NaN
  cats = rows.categories[:count]
  candidate = ((lengths[1:] == lengths[:-1]) & (rows.labels[1:count] == rows.labels[:count - 1])
               & (ints[1:] == ints[:-1]).all(axis=1) & (cats[1:] == cats[:-1]).all(axis=1))
  for k in np.flatnonzero(candidate) + 1:
    same[k] = chunk[rows.starts[k]:rows.ends[k]] == chunk[rows.starts[k - 1]:rows.ends[k - 1]]
  return same


def parse(chunk: bytes, num_integer: int, num_categorical: int, sep: str = "\t") -> Optional[Rows]:
  """The lines of `chunk` (whole lines, each ending in a break but perhaps the last), or None when any of them is
  not certainly valid (see the module docstring)."""
  if not chunk:
    return None
  if not chunk.endswith(b"\n"):
    chunk += b"\n"
  padded = np.empty(_PAD + len(chunk) + 8, dtype=np.uint8)   # a field's words may start before the chunk
  padded[:_PAD] = padded[-8:] = ord("0")
  data = padded[_PAD:-8]
  data[:] = np.frombuffer(chunk, dtype=np.uint8)
  # Every byte offset's 8 bytes as one little-endian uint64 (unaligned; offset k: words[k + _PAD]).
  words = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
  fields = 1 + num_integer + num_categorical
  breaks = np.flatnonzero((data == ord(sep)) | (data == _NEWLINE))
  n = len(breaks) // fields
  if len(breaks) != n * fields:
    return None
  kinds = data[breaks].reshape(n, fields)
  if not ((kinds[:, -1] == _NEWLINE).all() and (kinds[:, :-1] == ord(sep)).all()):
    return None
  ends = breaks.reshape(n, fields)
  starts = np.empty_like(breaks)
  starts[0], starts[1:] = 0, breaks[:-1] + 1
  starts = starts.reshape(n, fields)
  if not (ends[:, 0] - starts[:, 0] == 1).all():
    return None
  labels = data[starts[:, 0]].astype(np.int64) - ord("0")
  if not ((labels == 0) | (labels == 1)).all():
    return None
  integers = _decimal(data, words, starts[:, 1:1 + num_integer], ends[:, 1:1 + num_integer])
  if integers is None:
    return None
  categories = _hexadecimal(words, starts[:, 1 + num_integer:], ends[:, 1 + num_integer:])
  if categories is None:
    return None
  return Rows(labels, integers, categories, starts[:, 0].copy(), ends[:, -1].copy())


def _bytes(value: int) -> np.uint64:
  """A uint64 of 8 equal bytes."""
  return np.uint64(value * 0x0101010101010101)


# _KEEP[k]: the last k bytes of an 8-byte word (the high ones, little-endian).
_KEEP = np.array([(1 << 64) - (1 << (8 * (8 - k))) for k in range(9)], dtype=np.uint64)
_ZEROS, _HIGH, _LOW4 = _bytes(0x30), _bytes(0x80), _bytes(0x0F)


def _field_words(words: np.ndarray, ends: np.ndarray, length: np.ndarray, j: int) -> np.ndarray:
  """Word j from the end of each field (bytes end - 8(j + 1) .. end - 1), the bytes not among the field's last
  `length` characters set to '0'."""
  keep = _KEEP[np.clip(length - 8 * j, 0, 8)]
  return (words[ends + (_PAD - 8 * (j + 1))] & keep) | (_ZEROS & ~keep)


def _in_range(x: np.ndarray, low: int, high: int) -> np.ndarray:
  """The high bit of each byte of x (all bytes below 0x80) set where low <= byte <= high."""
  return ((x + _bytes(0x80 - low)) & ~(x + _bytes(0x7F - high))) & _HIGH


def _all_digits(x: np.ndarray) -> bool:
  high = x & _bytes(0xF0)
  return bool(((high == _ZEROS) & (((x + _bytes(0x06)) & _bytes(0xF0)) == _ZEROS)).all())


def _eight_digits(x: np.ndarray) -> np.ndarray:
  """The number written by 8 ASCII digits (the first in the lowest byte), as uint64 (simdjson's method)."""
  x = x - _ZEROS
  x = x * np.uint64(10) + (x >> np.uint64(8))
  mask = np.uint64(0x000000FF000000FF)
  x = ((x & mask) * np.uint64(100 + (1000000 << 32)) + ((x >> np.uint64(16)) & mask) * np.uint64(1 + (10000 << 32)))
  return x >> np.uint64(32)


def _decimal(data: np.ndarray, words: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Optional[np.ndarray]:
  """Integer fields (an optional '-', then digits; empty = NaN) as float32, as float(int(text)) rounds them; None
  when one is anything else or has LONG_INTEGER or more characters."""
  shape, starts, ends = starts.shape, starts.reshape(-1), ends.reshape(-1)
  lengths = ends - starts
  width = int(lengths.max(initial=0))
  if width >= LONG_INTEGER:
    return None
  negative = (data[np.minimum(starts, len(data) - 1)] == _MINUS) & (lengths > 0)
  digits = lengths - negative
  if (negative & (digits == 0)).any():
    return None
  values = np.zeros(len(starts), dtype=np.uint64)
  for j in range(-(-width // 8)):
    x = _field_words(words, ends, digits, j)
    if not _all_digits(x):
      return None
    values += _eight_digits(x) * np.uint64(10 ** (8 * j))
  signed = values.astype(np.int64)
  out = np.where(negative, -signed, signed).astype(np.float64).astype(np.float32)   # float(int): via float64
  out[lengths == 0] = np.nan
  return out.reshape(shape)


def _hexadecimal(words: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Optional[np.ndarray]:
  """Categorical fields of 1-8 hex digits (either case) as int64, -1 when empty; None when one is anything else."""
  shape, starts, ends = starts.shape, starts.reshape(-1), ends.reshape(-1)
  lengths = ends - starts
  if lengths.max(initial=0) > HEX_DIGITS:
    return None
  x = _field_words(words, ends, lengths, 0)
  if (x & _HIGH).any():   # a non-ASCII byte (the range checks below assume none)
    return None
  hexadecimal = _in_range(x, 0x30, 0x39) | _in_range(x | _bytes(0x20), 0x61, 0x66)   # 0-9, a-f or A-F
  if not (hexadecimal == _HIGH).all():
    return None
  nibbles = (x & _LOW4) + np.uint64(9) * ((x >> np.uint64(6)) & _bytes(0x01))   # '0' -> 0, 'a'/'A' -> 10
  lanes = np.uint64(0x00FF00FF00FF00FF)
  pairs = ((nibbles & lanes) << np.uint64(4)) | ((nibbles >> np.uint64(8)) & lanes)   # 16-bit lanes, first first
  byte = np.uint64(0xFF)
  values = (((pairs & byte) << np.uint64(24)) | (((pairs >> np.uint64(16)) & byte) << np.uint64(16))
            | (((pairs >> np.uint64(32)) & byte) << np.uint64(8)) | (pairs >> np.uint64(48)))
  values = values.astype(np.int64)
  values[lengths == 0] = -1
  return values.reshape(shape)
