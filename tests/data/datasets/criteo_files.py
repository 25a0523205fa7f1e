"""A tiny Criteo `train.txt` in the official layout (label, I1..I13, C1..C26, tab-separated), written by the tests.

Line 1 has hand-known values (an empty integer, a negative one, an empty category); lines 2-6 are malformed, one
of each kind the parser must report (BAD_LINES); the rest follow a planted signal: the click rate rises with C1's
value and with I1, so a model can learn an AUC above 0.5. Every categorical column draws from 5 values (each passes
min_count 10) or is empty, so all embedding tables have one shape (compiled once: it keeps the training tests
quick); other integers are Poisson counts with some missing.
"""

from __future__ import annotations

import os

import numpy as np

NUM_INTEGER, NUM_CATEGORICAL = 13, 26
# C1's values (real Criteo hashes) and their click logits: the planted signal.
C1_VALUES = ("05db9164", "68fd1e64", "8cf07265", "be589b51", "5a9ed9b0")
C1_LOGITS = (-2.0, -1.0, 0.0, 1.0, 2.0)
VALUES_PER_COLUMN = len(C1_VALUES)
FIRST = ("1", ["", "-3"] + [str(k) for k in range(3, NUM_INTEGER + 1)],
         ["68fd1e64", ""] + [f"{k:08x}" for k in range(3, NUM_CATEGORICAL + 1)])
# line number -> the reason the parser gives.
BAD_LINES = {2: "wrong column count", 3: "invalid label", 4: "non-numeric value", 5: "empty line",
             6: "bad encoding"}


def _line(label: str, ints, cats) -> str:
  return "\t".join([label, *ints, *cats])


def _bad_lines():
  good_ints, good_cats = [str(k) for k in range(NUM_INTEGER)], [f"{k:08x}" for k in range(NUM_CATEGORICAL)]
  return [b"1\t2\t3",                                                       # wrong column count
          _line("2", good_ints, good_cats).encode(),                        # invalid label
          _line("0", ["1", "2", "1.5"] + good_ints[3:], good_cats).encode(),  # non-numeric value (I3)
          b"",                                                              # empty line
          _line("0", good_ints, good_cats).encode()[:-4] + b"\xff\xfe\x00\x01"]  # bad encoding


def impressions(num_rows: int, seed: int = 0):
  """[(label, ints, cats)] as strings, with the planted signal."""
  rng = np.random.default_rng(seed)
  rows = []
  for _ in range(num_rows):
    c1 = int(rng.integers(len(C1_VALUES)))
    i1 = int(rng.poisson(4))
    p = 1 / (1 + np.exp(-(C1_LOGITS[c1] + 0.5 * (i1 - 4))))
    ints = [str(i1)] + [str(int(rng.poisson(3 + k))) if rng.random() > 0.2 else "" for k in range(1, NUM_INTEGER)]
    ints[1] = str(int(rng.integers(-3, 50)))   # I2 may be negative in Criteo's data
    cats = [C1_VALUES[c1] if rng.random() > 0.1 else ""]
    cats += [f"{k * 7919 + int(rng.integers(VALUES_PER_COLUMN)):08x}" if rng.random() > 0.1 else ""
             for k in range(1, NUM_CATEGORICAL)]
    rows.append((str(int(rng.random() < p)), ints, cats))
  return rows


def write(path: str, num_rows: int = 600, seed: int = 0):
  """Writes the file (a directory gets `train.txt`); returns [(line number, label, ints, cats)] of the valid
  lines, in file order."""
  if os.path.isdir(path):
    path = os.path.join(path, "train.txt")
  valid = [(1, *FIRST)]
  lines = [_line(*FIRST).encode()] + _bad_lines()
  for number, row in enumerate(impressions(num_rows, seed), start=len(lines) + 1):
    valid.append((number, *row))
    lines.append(_line(*row).encode())
  with open(path, "wb") as f:
    f.write(b"\n".join(lines) + b"\n")
  return valid
