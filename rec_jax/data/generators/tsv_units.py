"""Tab-separated lines of numbers and hex values built by numpy, never row by row (the Criteo-format generator's
text, rec_jax/data/generators/criteo_like.py).

Every field becomes 4-byte units (uint32, bytes in text order) from lookup tables: the hex digits of 16 bits, a
number's groups of digits, each with its tab; 0 bytes are padding. `join_lines` transposes the field-major units
into lines and drops the padding (one bytes.translate).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def units(texts: Sequence[str]) -> np.ndarray:
  """Each text (at most 4 bytes) as one unit, padded with 0 bytes."""
  return np.frombuffer(b"".join(t.encode().ljust(4, b"\0") for t in texts), dtype=np.uint32)


HEX16 = np.concatenate([units(f"{v:04x}" for v in range(65536)), [0]])   # index 65536: an empty value
_TAB_NUMBER = units(f"\t{v}" for v in range(-99, 1000))                  # index v + 99: "\t" and v
_TAB_TOP = units(["\t"] + [f"\t{v}" for v in range(1, 1000)])            # a leading group: "\t" when 0
# Lower groups of 4 digits: index part + 10000 when a higher group is not 0 (then zero-padded "0042").
_MIDDLE = units([""] + [str(v) for v in range(1, 10000)] + [f"{v:04d}" for v in range(10000)])
_LAST = units([str(v) for v in range(10000)] + [f"{v:04d}" for v in range(10000)])
TAB_UNIT, NEWLINE_UNIT = units(["\t", "\n"])


def integer_groups(values: np.ndarray) -> int:
  """Units of `integer_units`: a leading group of up to 3 digits (after the tab), then groups of 4."""
  digits = len(str(int(values.max(initial=0))))
  return 1 if digits <= 3 else 1 + -(-(digits - 3) // 4)


def integer_units(values: np.ndarray, missing: np.ndarray, out: np.ndarray) -> None:
  """Fills `out` (integer_groups(values), n) with "\t" and each integer in decimal; just "\t" when missing.
  Negative values must be >= -99."""
  groups = len(out)
  if groups == 1:
    out[0] = _TAB_NUMBER[values + 99]
  else:
    magnitude = np.maximum(values, 0)
    out[0] = _TAB_TOP[magnitude // 10 ** (4 * (groups - 1))]
    for g in range(1, groups):
      higher = (magnitude >= 10 ** (4 * (groups - g))).astype(np.int64) * 10000
      part = magnitude // 10 ** (4 * (groups - 1 - g)) % 10000
      out[g] = (_LAST if g == groups - 1 else _MIDDLE)[part + higher]
    negative = values < 0
    out[0] = np.where(negative, _TAB_NUMBER[np.clip(values, -99, 0) + 99], out[0])
    out[1:, negative] = 0
  out[0, missing] = TAB_UNIT
  out[1:, missing] = 0


def hex_units(values: np.ndarray, missing: np.ndarray, out: np.ndarray) -> None:
  """Fills `out` (fields, 3, n) with "\t" and the 8 hex digits of each 32-bit value of `values` (fields, n), two
  units; just "\t" where `missing`."""
  out[:, 0] = TAB_UNIT
  out[:, 1] = HEX16[np.where(missing, 65536, values >> np.uint32(16))]
  out[:, 2] = HEX16[np.where(missing, 65536, values & np.uint32(0xFFFF))]


def join_lines(field_units: np.ndarray) -> bytearray:
  """(units per line, n) field-major units -> the n lines' bytes, padding dropped."""
  count, n = field_units.shape
  lines = bytearray(field_units.nbytes)
  np.frombuffer(lines, dtype=np.uint32).reshape(n, count)[:] = field_units.T
  return lines.translate(None, b"\0")
