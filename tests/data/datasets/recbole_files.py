"""Tiny RecBole atomic datasets, written by the tests themselves: a plain `.inter` with `.item` and `.user` files
(every field type, a side field named like an inter column, ids the side files lack), and UniSRec's sequence form
(`.train/.valid/.test.inter` with item histories, and a `.text` file). The values are small enough to check by
hand; `bad_lines` appends malformed lines of each kind the parser must report.
"""

from __future__ import annotations

import os

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\treview:token_seq"
# (user, item, rating, timestamp) of the good .inter lines, from line 2: u3's item i9 is in no item file and u9 is
# in no user file.
INTERACTIONS = (("u1", "i1", "4.0", "100.4"), ("u1", "i2", "3.5", "100.6"), ("u2", "i1", "5", "200"),
                ("u2", "i3", "1", "150"), ("u3", "i9", "2", "300"), ("u9", "i2", "3", "310"))
# (line text, reason) of the malformed .inter lines, following the good ones.
BAD_INTER = (("u1\ti3\t4.0", "wrong column count"),
             ("\ti3\t4.0\t10\tr", "missing id"),
             ("u1\ti3\thigh\t10\tr", "non-numeric value"),
             ("", "empty line"),
             ("u1\ti3\t4\tsoon\tr", "non-numeric value"),
             (b"u1\ti\xff\t4\t1\tr", "bad encoding"))
ITEM_HEADER = "item_id:token\ttitle:token_seq\tcategory:token\tprice:float\temb:float_seq\trating:float"
ITEMS = ("i1\tThe  Cat\tbooks\t9.5\t0.1 0.2\t4.5",
         "i2\tDog\ttoys\t\t0.3 0.4\t3.0",        # price missing
         "i3\tBird Song\tmusic\t12\t0.5\t2.0")
BAD_ITEMS = (("i4\tbad\tx\tcheap\t0.1\t1.0", "non-numeric value"),
             ("i1\tdup\tx\t1\t0.1\t1.0", "duplicate id"))
USERS = ("user_id:token\tage:float\tgender:token", "u1\t25\tF", "u2\t31\tM", "u3\t40\tF")

# UniSRec's sequence form: (user, history, target) per split file; the histories as written (extra spaces in one).
SEQUENCES = {
    "train": (("1", "10", "11"), ("1", "10  11", "12"), ("2", "20", "21"), ("3", "", "30")),
    "valid": (("1", "10 11 12", "13"), ("2", "20 21", "22")),
    "test": (("1", "10 11 12 13", "14"), ("2", "20 21 22", "23")),
}
TEXTS = {"10": "Red shoes", "11": "Blue  hat", "12": "Green scarf", "13": "Socks", "14": "Gloves", "20": "A book",
         "21": "A pen", "22": "Ink", "23": "Paper", "30": "Tea"}


def _write(path, lines):
  with open(path, "wb") as f:
    for line in lines:
      f.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")


def write_plain(root, dataset="toy", bad_lines=False, user_file=True):
  """`<dataset>.inter`, `.item` and (with `user_file`) `.user` under `root/<dataset>`; returns that directory."""
  path = os.path.join(root, dataset)
  os.makedirs(path, exist_ok=True)
  lines = [INTER_HEADER] + [f"{u}\t{i}\t{r}\t{t}\treview {k}" for k, (u, i, r, t) in enumerate(INTERACTIONS)]
  _write(os.path.join(path, f"{dataset}.inter"), lines + ([text for text, _ in BAD_INTER] if bad_lines else []))
  items = [ITEM_HEADER, *ITEMS] + ([text for text, _ in BAD_ITEMS] if bad_lines else [])
  _write(os.path.join(path, f"{dataset}.item"), items)
  if user_file:
    _write(os.path.join(path, f"{dataset}.user"), USERS)
  return path


def raw_id(item: str) -> str:
  """The Amazon ASIN of an item index, as UniSRec's `.text` and `.item2index` name items."""
  return f"B{int(item):09d}"


def write_unisrec(root, dataset="Sci", text_file=True, raw_ids=False):
  """UniSRec's `<dataset>.{train,valid,test}.inter` and `.text` under `root/<dataset>`; with `raw_ids`, as UniSRec's
  own preprocessing writes them: `.text` keyed by raw ids and `.item2index` mapping them to the .inter indices
  (plus one raw id that is in no .inter file). Returns the directory."""
  path = os.path.join(root, dataset)
  os.makedirs(path, exist_ok=True)
  for split, rows in SEQUENCES.items():
    _write(os.path.join(path, f"{dataset}.{split}.inter"),
           ["user_id:token\titem_id_list:token_seq\titem_id:token"] + ["\t".join(r) for r in rows])
  key = raw_id if raw_ids else str
  if text_file:
    _write(os.path.join(path, f"{dataset}.text"),
           ["item_id:token\ttext:token_seq"] + [f"{key(i)}\t{t}" for i, t in TEXTS.items()])
  if raw_ids:
    _write(os.path.join(path, f"{dataset}.item2index"), [f"{raw_id(i)}\t{i}" for i in TEXTS] + ["B7\t99"])
  return path


def write_file(path, lines):
  """Any atomic file (e.g. one with a malformed header)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  _write(path, lines)
  return path
