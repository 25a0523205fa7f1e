"""Tiny Amazon reviews + metadata files in the official layouts (2023 `.jsonl`, 2018 `.json` with Python-literal
2014-style metadata lines), plain or gzip, written by the tests themselves.

The contents are small and fixed so that tests can state the expected values by hand; `bad_lines` appends one
malformed line of each kind the parser must report (their line numbers are in BAD_2023 / BAD_2018).
"""

from __future__ import annotations

import gzip
import json
import os

# 2023 reviews: (user_id, parent_asin, rating, timestamp in ms). U3's P9 has no metadata line.
REVIEWS_2023 = [
    ("U1", "P1", 5.0, 1600000000000), ("U1", "P2", 4.0, 1600000100000), ("U1", "P3", 3.0, 1600000200000),
    ("U2", "P1", 2.0, 1600000300999), ("U2", "P2", 5.0, 1600000400000), ("U2", "P4", 1.0, 1600000500000),
    ("U3", "P1", 4.0, 1600000600000), ("U3", "P3", 5.0, 1600000700000), ("U3", "P9", 3.0, 1600000800000),
]
DUPLICATE_2023 = REVIEWS_2023[1]   # written again as line 10: dropped by policy, not malformed
META_2023 = [
    dict(main_category="All Beauty", title="Soap", average_rating=4.5, rating_number=10, features=["mild"],
         description=["Gentle.", "Unscented."], price=12.99, images=[], videos=[], store="SoapCo",
         categories=["Beauty", "Skin Care", "Soap"], details={"Brand": "Acme"}, parent_asin="P1", bought_together=None),
    dict(main_category="All Beauty", title="Shampoo", average_rating=4.0, rating_number=3, features=[],
         description=[], price=None, images=[], videos=[], store="ShopCo", categories=[], details={},
         parent_asin="P2", bought_together=None),
    dict(main_category="All Beauty", title="Conditioner", average_rating=3.0, rating_number=1, features=[],
         description=["Silky."], price=3, images=[], videos=[], store="X", categories=["Beauty", "Hair"],
         details={"Brand": "Hairy"}, parent_asin="P3", bought_together=None),
    dict(main_category="", title="Comb", average_rating=1.0, rating_number=1, features=[], description=[],
         price=None, images=[], videos=[], store=None, categories=[], details={}, parent_asin="P4",
         bought_together=None),
]
# Expected side features: (title, description, category, brand, price); None = NaN.
ITEMS_2023 = {"P1": ("Soap", "Gentle. Unscented.", "Soap", "Acme", 12.99),
              "P2": ("Shampoo", "", "All Beauty", "ShopCo", None),
              "P3": ("Conditioner", "Silky.", "Hair", "Hairy", 3.0),
              "P4": ("Comb", "", "", "", None)}
# (line, reason) of the planted bad lines.
BAD_2023 = [(11, "broken json"), (12, "missing field"), (13, "rating out of range"), (14, "non-numeric value"),
            (15, "empty line"), (16, "bad encoding")]
BAD_META_2023 = [(5, "broken json"), (6, "duplicate id"), (7, "missing field"), (8, "empty line")]

# 2018 reviews: (reviewerID, asin, overall, unixReviewTime in seconds).
REVIEWS_2018 = [("R1", "B1", 5.0, 1400000000), ("R1", "B2", 3.0, 1400000100), ("R2", "B1", 4.0, 1400000200),
                ("R2", "B3", 2.0, 1400000300), ("R2", "B4", 1.0, 1400000400)]
META_2018 = [
    '{"asin": "B1", "title": "Lipstick", "description": "A red lipstick.", "category": ["Beauty", "Makeup", "Lips"], '
    '"brand": "Rouge", "price": "$12.99", "main_cat": "All Beauty"}',
    '{"asin": "B2", "title": "Eyeliner", "description": ["Line one", "", "Line two"], "category": [], '
    '"brand": "", "price": "$1.00 - $3.00", "main_cat": "All Beauty"}',
    # The 2014 dumps' metadata: Python dict literals, not JSON.
    "{'asin': 'B3', 'title': 'Brush', 'categories': [['Beauty', 'Tools', 'Brushes'], ['Beauty', 'Sale']], "
    "'brand': 'Bristle', 'price': ''}",
    '{"asin": "B4", "title": "Mirror", "description": [], "category": ["Beauty"], "brand": "Glass", '
    '"price": ".a-box-inner{background-color:#fff;}"}',
]
ITEMS_2018 = {"B1": ("Lipstick", "A red lipstick.", "Lips", "Rouge", 12.99),
              "B2": ("Eyeliner", "Line one Line two", "All Beauty", "", 2.0),
              "B3": ("Brush", "", "Brushes", "Bristle", None),
              "B4": ("Mirror", "", "Beauty", "Glass", None)}
BAD_2018 = [(6, "missing field"), (7, "non-numeric value"), (8, "rating out of range")]
BAD_META_2018 = [(5, "broken json"), (6, "missing field")]


def write_lines(path, lines):
  """Lines (str or raw bytes) to `path`, gzip-compressed when it ends with .gz."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
    for line in lines:
      f.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
  return path


def review_2023(user, item, rating, ms, asin=None):
  return json.dumps({"rating": rating, "title": "ok", "text": "fine", "images": [], "asin": asin or item + "-v1",
                     "parent_asin": item, "user_id": user, "timestamp": ms, "helpful_vote": 0,
                     "verified_purchase": True})


def write_2023(root, category="All_Beauty", gz=True, bad_lines=True, meta=True, reviews=REVIEWS_2023):
  """`<category>.jsonl[.gz]` and `meta_<category>.jsonl[.gz]`; returns their paths."""
  ext = ".jsonl.gz" if gz else ".jsonl"
  lines = [review_2023(*r) for r in reviews]
  if bad_lines:
    lines.append(review_2023(*DUPLICATE_2023))
    lines += ['{"rating": 5.0, "user_id": "U1", "parent_asin": "P1"',             # broken json
              json.dumps({"rating": 4.0, "user_id": "U1", "timestamp": 1600000000000, "asin": "A1"}),  # no parent
              review_2023("U2", "P3", 7.0, 1600000900000),                       # rating out of range
              review_2023("U3", "P2", 4.0, 1600000000000).replace("1600000000000", '"yesterday"'),  # non-numeric
              "",                                                               # empty line
              b'{"rating": 4.0, "user_id": "U\xff", "parent_asin": "P1", "timestamp": 1}']  # bad encoding
  paths = {"reviews": write_lines(os.path.join(root, category + ext), lines)}
  if meta:
    meta_lines = [json.dumps(m) for m in META_2023]
    if bad_lines:
      meta_lines += ['{"parent_asin": "P5", "title": ', json.dumps(META_2023[0] | {"title": "Soap again"}),
                     json.dumps({"main_category": "All Beauty", "title": "No id"}), "   "]
    paths["meta"] = write_lines(os.path.join(root, f"meta_{category}{ext}"), meta_lines)
  return paths


def write_2018(root, category="Beauty", gz=False, bad_lines=True, five_core=True):
  """`<category>_5.json[.gz]` (or `<category>.json`) and `meta_<category>.json[.gz]`; returns their paths."""
  ext = ".json.gz" if gz else ".json"
  lines = [json.dumps({"overall": r, "verified": True, "reviewTime": "05 13, 2014", "reviewerID": u, "asin": i,
                       "reviewerName": "x", "reviewText": "text", "summary": "s", "unixReviewTime": t})
           for u, i, r, t in REVIEWS_2018]
  if bad_lines:
    lines += [json.dumps({"overall": 4.0, "asin": "B1", "unixReviewTime": 1400000500}),          # no reviewerID
              json.dumps({"overall": "great", "reviewerID": "R3", "asin": "B1", "unixReviewTime": 1400000600}),
              json.dumps({"overall": 0.0, "reviewerID": "R3", "asin": "B2", "unixReviewTime": 1400000700})]
  name = f"{category}_5" if five_core else category
  meta = META_2018 + (["{'asin': 'B5', 'title': broken}", '{"title": "no asin", "brand": "Z"}'] if bad_lines else [])
  return {"reviews": write_lines(os.path.join(root, name + ext), lines),
          "meta": write_lines(os.path.join(root, f"meta_{category}{ext}"), meta)}
