"""Tiny SASRec-style `user item` files, written by the tests themselves: users of different sequence lengths (one
longer than the default history of 50, two too short for leave-one-out), each user's lines in time order, and
with `bad_lines` malformed lines of each kind in the middle of the file.
"""

from __future__ import annotations

import os

# Lines per user: user 1 is longer than the history kept (50); users 3 and 5 have fewer than 3 lines.
LENGTHS = {1: 60, 2: 3, 3: 2, 4: 5, 5: 1}
# (raw line, reason), written after user 2's lines.
BAD_LINES = ((b"1 2 3", "wrong column count"),
             (b"x7 5", "non-numeric id"),
             (b"4 2.5", "non-numeric id"),
             (b"", "empty line"),
             (b"4 \xff", "bad encoding"),
             (b"9", "wrong column count"))


def item_of(user: int, k: int) -> int:
  """The k-th item of a user (items repeat across users, and within user 1's long sequence)."""
  return (7 * user + 3 * k) % 40 + 1


def write_sequences(path, bad_lines=False):
  """Writes the file; returns ({user: [items in order]}, {user: [line numbers]}, {line number: reason})."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  items, numbers, bad = {}, {}, {}
  lines = []
  for user, length in LENGTHS.items():
    for k in range(length):
      lines.append(f"{user} {item_of(user, k)}".encode())
      items.setdefault(str(user), []).append(str(item_of(user, k)))
      numbers.setdefault(str(user), []).append(len(lines))
    if user == 2 and bad_lines:
      for text, reason in BAD_LINES:
        lines.append(text)
        bad[len(lines)] = reason
  with open(path, "wb") as f:
    f.write(b"\n".join(lines) + b"\n")
  return items, numbers, bad
