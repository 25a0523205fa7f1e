"""The spec of a Criteo-shaped synthetic click log (generators/criteo_like.py writes it): the Kaggle file's column
statistics it imitates (vocabulary sizes, missing rates, integer columns), `CriteoSpec` (rows, seed, vocabularies,
click rate, power law, planted effects and interactions; every value checked, a bad one is a UserError naming it) and
`scaled_vocab` (the Kaggle vocabularies rescaled to a total)."""

from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence, Tuple, Union

import numpy as np

from rec_jax.errors import UserError

NUM_INTEGER, NUM_CATEGORICAL = 13, 26
# Distinct values of C1..C26 in Criteo Kaggle's train.txt (the published counts).
KAGGLE_VOCAB = (1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992,
                5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572)
# Shares of empty values per column in Criteo Kaggle's train.txt (approximately).
KAGGLE_INTEGER_MISSING = (0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.001, 0.04, 0.45, 0.04, 0.77, 0.22)
KAGGLE_CATEGORICAL_MISSING = (0.0, 0.0, 0.03, 0.03, 0.0, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.0, 0.0, 0.0, 0.03,
                              0.0, 0.0, 0.44, 0.44, 0.03, 0.76, 0.0, 0.03, 0.44, 0.44)
# The integer columns: log1p(value) ~ N(mu, sigma) (mu = log1p of the median count), of which `activity` is the
# loading on the row's shared activity factor; click weight per unit of log1p(value) - mu, and the click effect of an
# empty value (logit units, before CriteoSpec.integer_scale).
INTEGER_COLUMNS = (
    # mu, sigma, activity, weight, missing effect
    (0.7, 1.0, 0.6, 0.35, -0.15),   # I1
    (1.4, 1.6, 0.3, 0.0, 0.0),      # I2
    (1.9, 1.3, 0.5, -0.15, 0.1),    # I3
    (1.6, 0.9, 0.5, 0.0, 0.0),      # I4
    (7.9, 1.8, 0.2, -0.1, 0.2),     # I5
    (3.4, 1.6, 0.5, -0.15, 0.0),    # I6
    (1.4, 1.3, 0.6, 0.25, -0.1),    # I7
    (2.2, 1.0, 0.3, 0.0, 0.0),      # I8
    (3.7, 1.3, 0.4, 0.0, 0.0),      # I9
    (0.4, 0.5, 0.2, 0.0, 0.0),      # I10
    (0.7, 0.9, 0.6, 0.3, -0.1),     # I11
    (-0.5, 1.0, 0.3, 0.0, 0.0),     # I12
    (1.6, 1.0, 0.5, -0.1, 0.05),    # I13
)
# Rows whose I2 is negative, and of those the shares of -1, -2, -3.
NEGATIVE_I2 = (0.05, 0.015, 0.01)
# Planted pairwise interactions (1-based C field numbers): small x small, small x mid, small x large fields.
DEFAULT_INTERACTIONS = ((1, 2), (6, 9), (14, 17), (20, 25), (5, 11), (9, 16))
MAX_VOCAB = 2 ** 32 - 1        # ids and the missing token fit 32 bits
MAX_INTEGER = 2 ** 31 - 1      # counts are clipped here
# Effects fade for rarer ids from this rank on (CriteoSpec.rare_decay).
RARE_RANK = 100


def _is_int(x) -> bool:
  return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_number(x) -> bool:
  return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(x)


def _as_tuple(value):
  """A list or array as a tuple (the spec is frozen and hashable); anything else unchanged (checked later)."""
  if isinstance(value, np.ndarray):
    return tuple(value.tolist())
  return tuple(value) if isinstance(value, (list, tuple)) else value


@dataclasses.dataclass(frozen=True)
class CriteoSpec:
  """What `write` generates (see the module docstring); checked when made: a bad value raises UserError."""
  rows: int
  seed: int = 0
  vocab_sizes: Tuple[int, ...] = KAGGLE_VOCAB   # ids per field C1..C26
  ctr: float = 0.25   # target click rate: the mean planted click probability
  zipf: Union[float, Tuple[float, ...]] = 1.1   # power-law exponent of the id ranks: one for all fields, or 26
  categorical_missing: Tuple[float, ...] = KAGGLE_CATEGORICAL_MISSING
  integer_missing: Tuple[float, ...] = KAGGLE_INTEGER_MISSING
  field_std: float = 0.2   # typical std (logit units) of a field's id effects; fields spread around it
  interactions: Tuple[Tuple[int, int], ...] = DEFAULT_INTERACTIONS   # pairs of C field numbers (1-based)
  interaction_std: float = 0.3   # std of an interaction's effects
  # Rarer ids have weaker effects: the effect of rank r is scaled by (1 + r / RARE_RANK)^-rare_decay (per
  # power-of-two band of ranks), so frequent ids carry most of the signal, as in real logs.
  rare_decay: float = 0.3
  integer_scale: float = 1.0   # multiplies the integer columns' click weights and missing effects

  def __post_init__(self):
    for name in ("vocab_sizes", "zipf", "categorical_missing", "integer_missing"):
      object.__setattr__(self, name, _as_tuple(getattr(self, name)))
    if isinstance(self.interactions, (list, tuple)):
      object.__setattr__(self, "interactions", tuple(_as_tuple(p) for p in self.interactions))
    bad = self._problems()
    if bad:
      raise UserError("; ".join(bad))

  def _problems(self) -> List[str]:
    bad = []
    if not _is_int(self.rows) or self.rows < 1:
      bad.append(f"rows={self.rows!r} must be an integer >= 1")
    if not _is_int(self.seed) or self.seed < 0:
      bad.append(f"seed={self.seed!r} must be an integer >= 0")
    bad += _sequence_problems("vocab_sizes", self.vocab_sizes, NUM_CATEGORICAL, "one per C1..C26",
                              lambda v: _is_int(v) and 1 <= v <= MAX_VOCAB, f"an integer from 1 to {MAX_VOCAB}")
    if not (_is_number(self.ctr) and 0 < self.ctr < 1):
      bad.append(f"ctr={self.ctr!r} must be a number > 0 and < 1")
    zipf_ok, zipf_rule = (lambda s: _is_number(s) and 0 < s <= 5), "a number > 0 and <= 5"
    if isinstance(self.zipf, tuple):
      bad += _sequence_problems("zipf", self.zipf, NUM_CATEGORICAL, "one per C1..C26, or one number", zipf_ok,
                                zipf_rule)
    elif not zipf_ok(self.zipf):
      bad.append(f"zipf={self.zipf!r} must be {zipf_rule} (or 26 of them)")
    rate_ok, rate_rule = (lambda r: _is_number(r) and 0 <= r < 1), "a share >= 0 and < 1"
    bad += _sequence_problems("categorical_missing", self.categorical_missing, NUM_CATEGORICAL, "one per C1..C26",
                              rate_ok, rate_rule)
    bad += _sequence_problems("integer_missing", self.integer_missing, NUM_INTEGER, "one per I1..I13", rate_ok,
                              rate_rule)
    for name in ("field_std", "interaction_std", "rare_decay", "integer_scale"):
      if not (_is_number(getattr(self, name)) and getattr(self, name) >= 0):
        bad.append(f"{name}={getattr(self, name)!r} must be a number >= 0")
    pair_ok = lambda p: (isinstance(p, tuple) and len(p) == 2 and all(_is_int(k) and 1 <= k <= NUM_CATEGORICAL
                                                                        for k in p) and p[0] != p[1])
    if not isinstance(self.interactions, tuple) or not all(pair_ok(p) for p in self.interactions):
      bad.append(f"interactions={self.interactions!r} must be pairs of two different C field numbers from 1 to 26")
    return bad

  def exponents(self) -> np.ndarray:
    """The power-law exponent of each field, (26,)."""
    return np.broadcast_to(np.asarray(self.zipf, dtype=np.float64), (NUM_CATEGORICAL,)).copy()


def _sequence_problems(name: str, values, length: int, meaning: str, ok, rule: str) -> List[str]:
  if not isinstance(values, tuple):
    return [f"{name}={values!r} must be a list of {length} values ({meaning})"]
  if len(values) != length:
    return [f"{name} has {len(values)} values; expected {length} ({meaning})"]
  wrong = [f"{name}[{k}]={v!r}" for k, v in enumerate(values) if not ok(v)]
  return [f"{', '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''} must be {rule}"] if wrong else []


def scaled_vocab(total_rows: int, base: Sequence[int] = KAGGLE_VOCAB, floor: int = 1000) -> Tuple[int, ...]:
  """`base` rescaled to `total_rows` ids (embedding rows) in all: fields of at most `floor` ids keep their size, the
  larger ones are scaled by one factor but kept at `floor` or more; the rounding rest goes to the largest field.
  E.g. scaled_vocab(10_000_000) for a Criteo-shaped model with 10M embedding rows (Kaggle's is 33.8M)."""
  base = [int(v) for v in base]
  if not _is_int(floor) or floor < 1:
    raise UserError(f"floor={floor!r} must be an integer >= 1")
  small = [v <= floor for v in base]
  fixed = sum(v for v, s in zip(base, small) if s)
  least = fixed + floor * (len(base) - sum(small))
  if not _is_int(total_rows) or total_rows < least:
    raise UserError(f"total_vocab={total_rows!r} must be an integer >= {least} (fields of at most {floor} ids keep "
                    f"their size, the others get at least {floor})")

  def sizes(factor: float) -> List[int]:
    return [v if s else max(floor, int(round(v * factor))) for v, s in zip(base, small)]

  large_sum = sum(v for v, s in zip(base, small) if not s)
  low, high = 0.0, total_rows / max(large_sum, 1) + 1.0
  for _ in range(100):
    mid = (low + high) / 2
    low, high = (mid, high) if sum(sizes(mid)) <= total_rows else (low, mid)
  out = sizes(low)
  largest = int(np.argmax(out))
  out[largest] += total_rows - sum(out)
  if max(out) > MAX_VOCAB:
    raise UserError(f"total_vocab={total_rows} gives a field of {max(out)} ids, more than {MAX_VOCAB}")
  return tuple(out)
