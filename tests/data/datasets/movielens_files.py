"""Tiny MovieLens files in the official layouts (ml-100k, ml-1m, CSV), written by the tests themselves.

Ratings follow a planted user x item taste (so a model can learn something), every user rates the same number of
movies at increasing timestamps, and `bad_lines` appends malformed lines of each kind the parser must report.
"""

from __future__ import annotations

import os

import numpy as np

GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
OCCUPATIONS = ("student", "engineer", "writer", "artist", "doctor")


def ratings(num_users=30, num_items=40, per_user=20, seed=0):
  """[(user, item, rating, timestamp)] with users 1..num_users and items 1..num_items."""
  rng = np.random.default_rng(seed)
  u_f, i_f = rng.normal(size=(num_users + 1, 2)), rng.normal(size=(num_items + 1, 2))
  rows = []
  for u in range(1, num_users + 1):
    items = rng.choice(np.arange(1, num_items + 1), size=per_user, replace=False)
    for k, i in enumerate(items):
      score = 3 + 1.2 * float(u_f[u] @ i_f[i]) + rng.normal(scale=0.3)
      rows.append((u, int(i), int(np.clip(np.rint(score), 1, 5)), 880000000 + 1000 * u + 10 * k))
  return rows


def write_100k(root, num_users=30, num_items=40, per_user=20, bad_lines=False, folds=True, extra_rows=()):
  os.makedirs(root, exist_ok=True)
  rows = ratings(num_users, num_items, per_user)
  with open(os.path.join(root, "u.data"), "w") as f:
    for u, i, r, t in list(rows) + list(extra_rows):
      f.write(f"{u}\t{i}\t{r}\t{t}\n")
    if bad_lines:
      f.write("1\t2\t3\n")                  # wrong column count
      f.write("x7\t2\t3\t880000000\n")       # non-numeric id
      f.write("3\t4\t9\t880000000\n")        # rating out of range
      f.write("\n")                          # empty line
      f.write("4\t5\t2\tyesterday\n")        # non-numeric timestamp
  with open(os.path.join(root, "u.user"), "w") as f:
    for u in range(1, num_users + 1):
      age = 15 + 2 * ((u - 1) % 52 + 1)   # 17..119: real ages (an ml-100k age beyond 120 is a malformed line)
      f.write(f"{u}|{age}|{'MF'[u % 2]}|{OCCUPATIONS[u % 5]}|{u % 10}{u:04d}\n")
  with open(os.path.join(root, "u.item"), "wb") as f:
    for i in range(1, num_items + 1):
      flags = ["1" if (g == i % 19 or g == (3 * i) % 19) else "0" for g in range(19)]
      title = f"Movie {i} caf\xe9 ({1970 + i})" if i % 7 else f"Untitled {i}"
      f.write(f"{i}|{title}|01-Jan-{1970 + i}||http://x/{i}|{'|'.join(flags)}\n".encode("latin-1"))
  if folds:
    # Five disjoint test folds covering u.data, as GroupLens's mku.sh does; uK.base holds the rest.
    order = np.random.default_rng(1).permutation(len(rows))
    for k in range(5):
      test = set(order[k::5].tolist())
      for name, keep in (("base", lambda j: j not in test), ("test", lambda j: j in test)):
        with open(os.path.join(root, f"u{k + 1}.{name}"), "w") as f:
          for j, (u, i, r, t) in enumerate(rows):
            if keep(j):
              f.write(f"{u}\t{i}\t{r}\t{t}\n")
  return rows


def write_1m(root, num_users=30, num_items=40, per_user=20):
  os.makedirs(root, exist_ok=True)
  rows = ratings(num_users, num_items, per_user)
  with open(os.path.join(root, "ratings.dat"), "w") as f:
    f.writelines(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows)
  with open(os.path.join(root, "users.dat"), "w") as f:
    ages = (1, 18, 25, 35, 45, 50, 56)
    f.writelines(f"{u}::{'MF'[u % 2]}::{ages[u % 7]}::{u % 21}::{u:05d}-1234\n" for u in range(1, num_users + 1))
  with open(os.path.join(root, "movies.dat"), "wb") as f:
    for i in range(1, num_items + 1):
      f.write(f"{i}::Film {i} \xe0 la carte ({1980 + i})::{GENRES[1 + i % 18]}|{GENRES[1 + (i + 5) % 18]}\n"
              .encode("latin-1"))
  return rows


def write_csv(root, num_users=30, num_items=40, per_user=20, tags=True):
  os.makedirs(root, exist_ok=True)
  rows = ratings(num_users, num_items, per_user)
  with open(os.path.join(root, "ratings.csv"), "w") as f:
    f.write("userId,movieId,rating,timestamp\n")
    f.writelines(f"{u},{i},{r - 0.5 if u % 3 == 0 else r:.1f},{t}\n" for u, i, r, t in rows)
  with open(os.path.join(root, "movies.csv"), "w", encoding="utf-8") as f:
    f.write("movieId,title,genres\n")
    for i in range(1, num_items + 1):
      f.write(f'{i},"Film {i}, the sequel ({1990 + i})",{GENRES[1 + i % 18]}|{GENRES[1 + (i + 3) % 18]}\n')
  if tags:
    with open(os.path.join(root, "tags.csv"), "w", encoding="utf-8") as f:
      f.write("userId,movieId,tag,timestamp\n")
      f.writelines(f"{1 + i % 5},{i},{'funny' if i % 2 else 'dark'},{1500000000 + i}\n" for i in range(1, 21))
      f.write("3,7,twist ending,1500000100\n3,7,funny,1500000200\n")
  return rows
