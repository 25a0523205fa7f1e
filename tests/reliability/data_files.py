"""Tiny files of every real format, written by the reliability cases themselves: a small valid base per format (10
interactions over users 1-2 and items 1-5, unless said otherwise) that a case extends with the bad input it is about,
so every count in a case's expected report can be checked by hand."""

from __future__ import annotations

import gzip
import json
import os
from typing import Iterable, Optional, Sequence, Union

Line = Union[str, bytes]

# (user, item, rating, timestamp) of the valid base: users 1-2 each rate items 1-5.
PAIRS = [(u, i) for u in (1, 2) for i in range(1, 6)]
RATINGS = [(u, i, 1 + (u + i) % 5, 880000000 + 10 * (5 * u + i)) for u, i in PAIRS]
USERS = (1, 2, 3, 4)
ITEMS = (1, 2, 3, 4, 5)


def write(path, lines: Iterable[Line] = (), gz: bool = False, raw: Optional[bytes] = None) -> str:
  """`lines` (text or raw bytes), each ended by \\n, or the exact bytes `raw`; gzip-compressed with `gz`."""
  path = str(path)
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  data = raw if raw is not None else b"".join((x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n"
                                              for x in lines)
  with (gzip.open if gz else open)(path, "wb") as f:
    f.write(data)
  return path


def truncated_gzip(path, lines: Sequence[Line]) -> str:
  """A .gz file cut short: its compressed bytes end 20 bytes early, as a broken download does."""
  write(path, lines, gz=True)
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:-20])
  return str(path)


# ---- MovieLens -------------------------------------------------------------------------------------------------

def item_100k(i: int) -> str:
  return f"{i}|Movie {i} (1990)|01-Jan-1990||http://x/{i}|" + "|".join("1" if g == i else "0" for g in range(19))


def ml100k(root, extra: Sequence[Line] = (), ratings: Optional[Sequence[Line]] = None, users=USERS, items=ITEMS,
           gz: bool = False) -> str:
  """u.data (the base ratings + `extra` lines, or `ratings` instead), u.user, u.item in `root`."""
  lines = list(ratings) if ratings is not None else [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
  write(os.path.join(root, "u.data" + (".gz" if gz else "")), lines + list(extra), gz=gz)
  write(os.path.join(root, "u.user"), [f"{u}|{20 + u}|M|student|1000{u}" for u in users])
  write(os.path.join(root, "u.item"), [item_100k(i) for i in items])
  return str(root)


def ml1m(root, extra: Sequence[Line] = (), ratings: Optional[Sequence[Line]] = None, users=USERS, items=ITEMS,
         user_lines: Sequence[Line] = ()) -> str:
  lines = list(ratings) if ratings is not None else [f"{u}::{i}::{r}::{t}" for u, i, r, t in RATINGS]
  write(os.path.join(root, "ratings.dat"), lines + list(extra))
  write(os.path.join(root, "users.dat"), [f"{u}::M::25::4::1234{u}" for u in users] + list(user_lines))
  write(os.path.join(root, "movies.dat"), [f"{i}::Movie {i} (1990)::Comedy|Drama" for i in items])
  return str(root)


def ml_csv(root, extra: Sequence[Line] = (), header: Optional[str] = "userId,movieId,rating,timestamp",
           ratings: Optional[Sequence[Line]] = None, movie_lines: Sequence[Line] = ()) -> str:
  lines = list(ratings) if ratings is not None else [f"{u},{i},{r - 0.5:.1f},{t}" for u, i, r, t in RATINGS]
  write(os.path.join(root, "ratings.csv"), ([header] if header is not None else []) + lines + list(extra))
  write(os.path.join(root, "movies.csv"), ["movieId,title,genres"] + [f'{i},"Movie {i}, the (1990)",Comedy'
                                                                        for i in ITEMS] + list(movie_lines))
  return str(root)


# ---- Amazon reviews (2023 JSON lines) --------------------------------------------------------------------------

def review(user, item, rating, ms) -> str:
  return json.dumps({"rating": rating, "title": "t", "text": "x", "asin": f"A{item}", "parent_asin": f"P{item}",
                     "user_id": f"U{user}", "timestamp": ms, "helpful_vote": 0, "verified_purchase": True})


def meta(item, **fields) -> str:
  return json.dumps({"main_category": "Beauty", "title": f"Item {item}", "parent_asin": f"P{item}", "store": "S",
                     "price": 9.5, **fields})


def amazon(root, extra: Sequence[Line] = (), reviews: Optional[Sequence[Line]] = None,
           meta_lines: Optional[Sequence[Line]] = None, gz: bool = False, category: str = "All_Beauty") -> str:
  """`<category>.jsonl[.gz]` (the base reviews + `extra`) and `meta_<category>.jsonl[.gz]` in `root`."""
  ext = ".jsonl.gz" if gz else ".jsonl"
  lines = list(reviews) if reviews is not None else [review(u, i, r, 1000 * t) for u, i, r, t in RATINGS]
  write(os.path.join(root, category + ext), lines + list(extra), gz=gz)
  write(os.path.join(root, f"meta_{category}{ext}"),
        list(meta_lines) if meta_lines is not None else [meta(i) for i in ITEMS], gz=gz)
  return str(root)


# ---- Criteo ----------------------------------------------------------------------------------------------------

def criteo_line(label="0", ints: Optional[Sequence[str]] = None, cats: Optional[Sequence[str]] = None,
                sep: str = "\t", k: int = 0) -> str:
  ints = list(ints) if ints is not None else [str(k + j) for j in range(13)]
  cats = list(cats) if cats is not None else [f"{k * 31 + j:08x}" for j in range(26)]
  return sep.join([label, *ints, *cats])


def criteo(path, extra: Sequence[Line] = (), lines: Optional[Sequence[Line]] = None, gz: bool = False) -> str:
  """train.txt (or `path` itself when it names a file): 10 distinct valid impressions + `extra`."""
  base = list(lines) if lines is not None else [criteo_line(str(k % 2), k=k) for k in range(10)]
  return write(path, base + list(extra), gz=gz)


# ---- RecBole atomic --------------------------------------------------------------------------------------------

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"


def recbole(root, extra: Sequence[Line] = (), header: Optional[str] = INTER_HEADER,
            inter: Optional[Sequence[Line]] = None, item_lines: Optional[Sequence[Line]] = None,
            dataset: str = "toy") -> str:
  """`<dataset>.inter` (header + the base + `extra`) and `<dataset>.item` under `root/<dataset>`; returns that."""
  path = os.path.join(root, dataset)
  lines = list(inter) if inter is not None else [f"u{u}\ti{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
  write(os.path.join(path, f"{dataset}.inter"), ([header] if header is not None else []) + lines + list(extra))
  items = list(item_lines) if item_lines is not None else [f"i{i}\tItem {i}\t{i}.5" for i in ITEMS]
  write(os.path.join(path, f"{dataset}.item"), ["item_id:token\ttitle:token_seq\tprice:float"] + items)
  return path


def unisrec(root, train: Sequence[Line], dataset: str = "seq") -> str:
  """UniSRec's split files (`user_id item_id_list item_id`); valid and test hold one line of each user."""
  path = os.path.join(root, dataset)
  header = "user_id:token\titem_id_list:token_seq\titem_id:token"
  write(os.path.join(path, f"{dataset}.train.inter"), [header] + list(train))
  write(os.path.join(path, f"{dataset}.valid.inter"), [header, "1\t1 2 3\t4", "2\t3 4\t5"])
  write(os.path.join(path, f"{dataset}.test.inter"), [header, "1\t1 2 3 4\t5", "2\t3 4 5\t1"])
  return path


# ---- Sequence files --------------------------------------------------------------------------------------------

def sequence_txt(path, extra: Sequence[Line] = (), lines: Optional[Sequence[Line]] = None, gz: bool = False) -> str:
  """SASRec's `user item` lines: the base pairs in order + `extra`."""
  base = list(lines) if lines is not None else [f"{u} {i}" for u, i in PAIRS]
  return write(path, base + list(extra), gz=gz)


USER_SEQUENCES = ["1 1 2 3 4 5", "2 1 2 3 4 5", "3 5 4 3"]   # 3 lines, 13 interactions


def user_sequences(path, extra: Sequence[Line] = (), lines: Optional[Sequence[Line]] = None) -> str:
  return write(path, (list(lines) if lines is not None else USER_SEQUENCES) + list(extra))
