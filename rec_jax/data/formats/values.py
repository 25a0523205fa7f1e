"""Reading one field's value the same way in every format, so that no text reaches numpy (int64, float32) in a form
that overflows, or passes as a number it is not: integer ids (canonical, non-negative, within int64), integers
(within int64: timestamps) and finite floats ("nan", "inf" and "1e999" parse as floats in Python).

Each raises `BadValue(reason, detail)`, a ValueError: a format drops the line with that reason in its report.
"""

from __future__ import annotations

import math

INT64_MAX = 2 ** 63 - 1
FLOAT32_MAX = 3.4028234663852886e38   # numbers are stored as float32: a larger one would become inf
# Digits of the largest int64; a longer digit string is out of range without converting it (Python refuses to
# convert strings of over 4300 digits at all).
_INT64_DIGITS = len(str(INT64_MAX))


class BadValue(ValueError):
  """A field that is not a valid value: the reason a line is dropped for (a short fixed phrase) and the detail."""

  def __init__(self, reason: str, detail: str = ""):
    super().__init__(reason, detail)
    self.reason, self.detail = reason, detail


def _digits(text: str) -> bool:
  return text.isascii() and text.isdigit()


def integer_id(text: str, what: str = "id") -> str:
  """The canonical form of an integer id (`007` and `+7` are `7`): ASCII digits with an optional `+`; a negative
  id ("negative id"), one beyond int64 ("id out of range": the original tools read ids as machine integers) and
  anything else ("non-numeric id") are errors."""
  t = text.strip()
  sign, digits = (t[0], t[1:]) if t[:1] in ("+", "-") else ("", t)
  if not _digits(digits):
    raise BadValue("non-numeric id", f"{what} {text!r}: ids must be integers")
  canonical = digits.lstrip("0") or "0"
  if sign == "-" and canonical != "0":
    raise BadValue("negative id", f"{what} {text!r}: ids must be non-negative")
  if len(canonical) > _INT64_DIGITS or int(canonical) > INT64_MAX:
    raise BadValue("id out of range", f"{what} {text[:40]!r}: beyond a 64-bit integer")
  return canonical


def int64(text: str, what: str, reason: str = "value out of range") -> int:
  """An integer field within int64 (e.g. a Unix timestamp); "non-numeric value" when it is not an integer,
  `reason` when it is beyond int64."""
  t = text.strip()
  digits = t[1:] if t[:1] in ("+", "-") else t
  if not _digits(digits):
    raise BadValue("non-numeric value", f"{what} {text[:40]!r}")
  if len(digits.lstrip("0")) > _INT64_DIGITS or not -INT64_MAX - 1 <= int(t) <= INT64_MAX:
    raise BadValue(reason, f"{what} {text[:40]!r}: beyond a 64-bit integer")
  return int(t)


def check_int64(value: int, what: str, reason: str = "value out of range") -> int:
  """An integer already parsed (e.g. from JSON) that must fit int64."""
  if not -INT64_MAX - 1 <= value <= INT64_MAX:
    raise BadValue(reason, f"{what} {str(value)[:40]}: beyond a 64-bit integer")
  return value


def finite_float(text, what: str) -> float:
  """A float field (text, or a number from JSON) that must be a finite number as float32 stores it: "non-numeric
  value" when it is no number, "non-finite value" for nan and inf (and 1e999, which Python reads as inf), "value
  out of range" beyond float32."""
  try:
    value = float(text)
  except (ValueError, TypeError, OverflowError):   # OverflowError: an int too large for a float
    raise BadValue("non-numeric value" if not isinstance(text, int) else "value out of range",
                   f"{what} {str(text)[:40]!r}") from None
  if not math.isfinite(value):
    raise BadValue("non-finite value", f"{what} {str(text)[:40]!r}")
  if abs(value) > FLOAT32_MAX:
    raise BadValue("value out of range", f"{what} {str(text)[:40]!r}: beyond a 32-bit float")
  return value
