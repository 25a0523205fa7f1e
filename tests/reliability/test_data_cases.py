"""Reliability corpus, data part: bad inputs of every real format, each loaded the way a run loads it
(`load_dataset`, through the format's TFDS builder) from files the case writes itself, each with its exact outcome:
either one `error:` line (a UserError, or the FileNotFoundError of a missing file, whose message names the file and
the problem; no dataset left behind in data_dir) or the precise counts of the source report (`lines_read`,
`lines_kept`, `dropped` per file; `rows_read`, `rows_kept`, `dropped` per stored split; notes), with
read = kept + dropped everywhere.

Also here: offline with an empty data.path fails fast with one line; a failed build leaves no dataset; reading stops
early on a file none of whose lines can be read; TFDS's noise about our own builds is silenced and its real
warnings are not.
"""

from __future__ import annotations

import dataclasses
import glob
import http.server
import io
import logging
import os
import re
import shutil
import threading
import time
import zipfile
from typing import Callable, Dict, Optional, Tuple

import ml_collections
import numpy as np
import pytest

from rec_jax.data.datasets import load_dataset
from rec_jax.data.features import FeatureOptions
from rec_jax.errors import UserError
from tests.reliability import data_files as F

R = F.RATINGS


@dataclasses.dataclass
class Case:
  """One bad input. `write(directory) -> data.path`; `error`: (exception type, regex the message must match), or
  else the expected report: `files` {role: (lines_read, lines_kept, dropped)}, `splits` {split: (rows_read,
  rows_kept, dropped[, replaced_by_oov])}, `notes` (a subset of the report's notes); `check(raw)` asserts more."""
  id: str
  name: str
  write: Callable[[str], str]
  error: Optional[Tuple[type, str]] = None
  files: Dict[str, tuple] = dataclasses.field(default_factory=dict)
  splits: Dict[str, tuple] = dataclasses.field(default_factory=dict)
  notes: Dict[str, object] = dataclasses.field(default_factory=dict)
  options: Dict[str, object] = dataclasses.field(default_factory=dict)
  budget: float = 0.5
  split: Dict[str, object] = dataclasses.field(default_factory=dict)
  threshold: float = 0.0
  check: Optional[Callable] = None
  label: str = "label"   # features.label: the column the run learns


def err(pattern: str, kind: type = UserError) -> Tuple[type, str]:
  return kind, pattern


def tsv(rows, sep="\t"):
  return [sep.join(str(x) for x in r) for r in rows]


def then(*steps):
  """A writer of several steps; the first step's return value is data.path."""
  def write(d):
    out = steps[0](d)
    for step in steps[1:]:
      step(d)
    return out
  return write


def replace_with_dir(name):
  def step(d):
    os.remove(os.path.join(d, name))
    os.makedirs(os.path.join(d, name))
  return step


def remove(name):
  return lambda d: os.remove(os.path.join(d, name))


def ml100k(**kw):
  return lambda d: F.ml100k(d, **kw)


def ratings_100k(rows=R):
  return tsv(rows)


def crlf(lines):
  return [line + "\r" for line in lines]


UTF16 = ("\n".join(ratings_100k()) + "\n").encode("utf-16")
TEN_MB = 10 << 20
DUP_100K = [tsv([R[0]])[0], tsv([R[3]])[0], tsv([R[0]])[0], "%d\t%d\t5\t%d" % (R[1][0], R[1][1], R[1][3])]


def only_first_label_missing(raw):
  labels = np.concatenate([raw.splits[s]["label"] for s in raw.splits])
  assert (labels == -1).sum() == 1 and len(labels) == 11   # governance drops the -1 as invalid:label


def rating_label_dropped_not_imputed(raw):
  """When the rating is the label (task=rating), a row without one is dropped by governance, not given the train
  median."""
  from rec_jax.data.governance import clean, fit_fills
  log = {k: np.concatenate([raw.splits[s][k] for s in raw.splits]) for k in raw.splits["train"]}
  _, report = clean(raw.schema, log, fit_fills(raw.schema, raw.splits["train"]))
  assert (report["rows_read"], report["rows_kept"], report["dropped"]) == (11, 10, {"missing:rating": 1}), report
  assert "rating" not in report["imputed"], report


def nan_price_for_item_1(raw):
  rows = {k: np.concatenate([raw.splits[s][k] for s in raw.splits]) for k in ("item_id", "price")}
  assert np.isnan(rows["price"][rows["item_id"] == "P1"]).all()
  assert (rows["price"][rows["item_id"] == "P2"] == 9.5).all()


ML100K = [
    Case("ml100k-wrong-delimiter", "movielens", ml100k(ratings=tsv(R, ",")), err(
        r"u\.data: none of its 10 lines could be read \(wrong column count: 10\); first: line 1 \(wrong column "
        r"count: 1 columns, expected 4\); line 2 \(wrong column count: 1 columns, expected 4\); line 3 \(wrong "
        r"column count: 1 columns, expected 4\)\. Expected tab-separated user item rating timestamp; likely cause: "
        r"a wrong delimiter \(e\.g\. commas where tabs are expected\) or another format's file\.$")),
    Case("ml100k-all-lines-malformed", "movielens", ml100k(ratings=["a\tb\t3\t880000000"] * 6), err(
        r"u\.data: none of its 6 lines could be read \(non-numeric id: 6\); first: line 1 \(non-numeric id: user "
        r"'a': ids must be integers\).*; likely cause: the wrong file, or another format's\.$")),
    Case("ml100k-empty-file", "movielens", ml100k(ratings=[]), err(
        r"u\.data is empty \(0 lines\); expected tab-separated user item rating timestamp$")),
    Case("ml100k-blank-lines-only", "movielens", ml100k(ratings=["", "  ", ""]), err(
        r"u\.data: none of its 3 lines could be read \(empty line: 3\).*the file holds only empty lines\.$")),
    Case("ml100k-utf16-file", "movielens", then(ml100k(), lambda d: F.write(os.path.join(d, "u.data"), raw=UTF16)),
         err(r"u\.data: none of its 11 lines could be read \(NUL byte: 11\).*a binary, compressed or UTF-16 file")),
    Case("ml100k-wrong-column-count", "movielens", ml100k(extra=["1\t2\t3"]),
         files={"ratings": (11, 10, {"wrong column count": 1})}, splits={"full": (10, 10, {})}),
    Case("ml100k-non-numeric-id", "movielens", ml100k(extra=["x1\t2\t3\t880000001"]),
         files={"ratings": (11, 10, {"non-numeric id": 1})}, splits={"full": (10, 10, {})}),
    Case("ml100k-negative-id", "movielens", ml100k(extra=["-3\t2\t3\t880000001"]),
         files={"ratings": (11, 10, {"negative id": 1})}),
    Case("ml100k-huge-id", "movielens", ml100k(extra=["1" * 400 + "\t2\t3\t880000001"]),
         files={"ratings": (11, 10, {"id out of range": 1})}),
    Case("ml100k-huge-timestamp", "movielens", ml100k(extra=["1\t2\t3\t" + "9" * 400]),
         files={"ratings": (11, 10, {"time out of range": 1})}),
    Case("ml100k-timestamp-1e25", "movielens", ml100k(extra=["1\t2\t3\t1e25"]),
         files={"ratings": (11, 10, {"non-numeric value": 1})}),
    Case("ml100k-nan-rating", "movielens", ml100k(extra=["1\t2\tnan\t880000001"]),
         files={"ratings": (11, 10, {"rating out of range": 1})}),
    Case("ml100k-inf-rating", "movielens", ml100k(extra=["1\t2\tinf\t880000001", "1\t3\t-inf\t880000002"]),
         files={"ratings": (12, 10, {"rating out of range": 2})}),
    Case("ml100k-rating-out-of-range", "movielens", ml100k(extra=["1\t2\t6\t880000001", "1\t2\t3.5\t880000001"]),
         files={"ratings": (12, 10, {"rating out of range": 2})}),
    Case("ml100k-nul-byte", "movielens", ml100k(extra=[b"1\t2\x00\t3\t880000001"]),
         files={"ratings": (11, 10, {"NUL byte": 1})}),
    Case("ml100k-10mb-line", "movielens", ml100k(extra=["1\t2\t3\t" + "8" * TEN_MB]),
         files={"ratings": (11, 10, {"line too long": 1})}),
    Case("ml100k-crlf-and-bom-are-fine", "movielens",
         ml100k(ratings=["\ufeff" + crlf(ratings_100k())[0]] + crlf(ratings_100k())[1:]),
         files={"ratings": (10, 10, {})}, splits={"full": (10, 10, {})}),
    # R[0] twice more, R[3] once more: 3 exact duplicates; R[1] with another rating is not one.
    Case("ml100k-duplicates-drop", "movielens", ml100k(extra=DUP_100K),
         files={"ratings": (14, 14, {})}, splits={"full": (14, 11, {"duplicate": 3})}),
    Case("ml100k-duplicates-keep", "movielens", ml100k(extra=DUP_100K), options={"duplicates": "keep"},
         splits={"full": (14, 14, {})}, notes={"duplicates_kept": {"full": 3}}),
    Case("ml100k-duplicates-per-fold-file", "movielens",
         then(ml100k(), lambda d: F.write(os.path.join(d, "u1.base"), tsv(R[:6] + [R[0]])),
              lambda d: F.write(os.path.join(d, "u1.test"), tsv(R[6:]))),
         split={"kind": "predefined", "fold": "u1"},
         splits={"full": (10, 10, {}), "u1_base": (7, 6, {"duplicate": 1}), "u1_test": (4, 4, {})}),
    Case("ml100k-unknown-user-drop", "movielens", ml100k(extra=["9\t1\t3\t880000999"]),
         splits={"full": (11, 10, {"unknown_user": 1})}),
    Case("ml100k-unknown-item-oov", "movielens", ml100k(extra=["1\t9\t3\t880000999"]),
         options={"unknown_ids": "oov"}, splits={"full": (11, 11, {}, {"unknown_item": 1})}),
    Case("ml100k-all-users-unknown", "movielens", ml100k(users=(7, 8)), err(
        r"movielens: no rows left in split 'full' of \S*u\.data: all 10 rows read were dropped by policy "
        r"\(unknown_user: 10\); their users are not in the user file; data\.options\.unknown_ids=oov keeps them$")),
    Case("ml100k-user-file-wrong-delimiter", "movielens",
         then(ml100k(), lambda d: F.write(os.path.join(d, "u.user"), [f"{u},20,M,x,1000{u}" for u in F.USERS])),
         err(r"u\.user: none of its 4 lines could be read \(wrong column count: 4\).*Expected '\|'-separated "
             r"id\|age\|gender\|occupation\|zip; likely cause: a wrong delimiter")),
    Case("ml100k-ages-out-of-range-or-not-integers", "movielens",
         then(ml100k(extra=["5\t1\t3\t880000901", "6\t1\t3\t880000902", "7\t1\t3\t880000903"]),
              lambda d: F.write(os.path.join(d, "u.user"), [f"{u}|{20 + u}|M|x|1000{u}" for u in F.USERS]
                                + ["5|-3|M|x|10005", "6|999|M|x|10006", "7|1_0|M|x|10007"])),
         files={"users": (7, 4, {"age out of range": 2, "non-numeric value": 1})},
         splits={"full": (13, 10, {"unknown_user": 3})}),
    Case("ml100k-genre-flag-not-0-or-1", "movielens",
         then(ml100k(extra=["1\t6\t3\t880000901"]),
              lambda d: F.write(os.path.join(d, "u.item"), [F.item_100k(i) for i in F.ITEMS]
                                + [F.item_100k(6).replace("|0|", "|2|", 1)])),
         files={"items": (6, 5, {"invalid genre flags": 1})}, splits={"full": (11, 10, {"unknown_item": 1})}),
    Case("ml100k-empty-item-file", "movielens", ml100k(items=()), err(r"u\.item is empty \(0 lines\)")),
    Case("ml100k-error-budget-at-the-limit", "movielens", ml100k(ratings=tsv(R[:9]) + ["x1\t2\t3\t880000001"]),
         budget=0.1, files={"ratings": (10, 9, {"non-numeric id": 1})}),
    Case("ml100k-error-budget-just-over", "movielens", ml100k(ratings=tsv(R[:9]) + ["x1\t2\t3\t880000001"]),
         budget=0.099, error=err(
             r"u\.data: 1 of 10 lines are malformed \(10\.0%\), over the error budget data\.max_bad_fraction=0\.099 "
             r"\(non-numeric id: 1\); first: line 10 \(non-numeric id: user 'x1': ids must be integers\)$")),
    Case("ml100k-user-file-is-a-directory", "movielens", then(ml100k(), replace_with_dir("u.user")), err(
        r"movielens ml-100k: '\S*u\.user' is a directory; expected the file 'u\.user' there$")),
    Case("ml100k-ratings-file-is-a-directory", "movielens", then(ml100k(), replace_with_dir("u.data")), err(
        r"'\S*u\.data' is a directory; expected the file 'u\.data' there$")),
    Case("ml100k-data-path-is-a-file", "movielens", lambda d: os.path.join(F.ml100k(d), "u.data"), err(
        r"data\.path '\S*u\.data' is a file; expected a directory holding 'u\.data'$")),
    Case("ml100k-missing-item-file", "movielens", then(ml100k(), remove("u.item")),
         err(r"movielens ml-100k: expected 'u\.item' in '\S+', which holds \['u\.data', 'u\.user'\]",
             FileNotFoundError)),
    Case("ml100k-truncated-gz", "movielens",
         then(ml100k(gz=True), lambda d: F.truncated_gzip(os.path.join(d, "u.data.gz"), ratings_100k() * 20)),
         err(r"u\.data\.gz: the gzip file is truncated \(its data ends after line \d+, inside a line or before the "
             r"gzip end marker\); download it again$")),
    Case("ml100k-not-gzip", "movielens",
         then(ml100k(gz=True), lambda d: F.write(os.path.join(d, "u.data.gz"), ratings_100k())),
         err(r"u\.data\.gz ends in \.gz but is not a gzip file \(Not a gzipped file \(b'1\\t'\)\); if it is plain "
             r"text, rename it without \.gz$")),
    Case("ml100k-unknown-option", "movielens", ml100k(), options={"duplicate": "drop"}, error=err(
        r"movielens has no option\(s\) \['duplicate'\]; valid: variant, unknown_ids, duplicates$")),
    Case("ml100k-bad-duplicates-value", "movielens", ml100k(), options={"duplicates": "first"}, error=err(
        r"data\.options\.duplicates='first'; valid: drop, keep$")),
    Case("ml100k-bad-unknown-ids-value", "movielens", ml100k(), options={"unknown_ids": "skip"}, error=err(
        r"data\.options\.unknown_ids='skip'; valid: drop, oov$")),
    Case("ml100k-bad-variant", "movielens", ml100k(), options={"variant": "2m"}, error=err(
        r"data\.options\.variant='2m'; valid: auto, 100k, 1m, csv$")),
]

ML1M = [
    Case("ml1m-wrong-delimiter", "movielens", lambda d: F.ml1m(d, ratings=tsv(R)), err(
        r"ratings\.dat: none of its 10 lines could be read \(wrong column count: 10\).*Expected '::'-separated "
        r"UserID::MovieID::Rating::Timestamp; likely cause: a wrong delimiter")),
    Case("ml1m-unknown-movie", "movielens", lambda d: F.ml1m(d, extra=["1::9::3::880000999"]),
         files={"ratings": (11, 11, {}), "items": (5, 5, {})}, splits={"full": (11, 10, {"unknown_item": 1})}),
    Case("ml1m-bad-age-group", "movielens",
         lambda d: F.ml1m(d, extra=["5::1::3::880000999"], user_lines=["5::F::19::4::12345"]),
         files={"users": (5, 4, {"invalid age group": 1})}, splits={"full": (11, 10, {"unknown_user": 1})}),
    Case("ml1m-negative-movie-id", "movielens", lambda d: F.ml1m(d, extra=["1::-2::3::880000999"]),
         files={"ratings": (11, 10, {"negative id": 1})}),
    Case("ml1m-duplicates-drop", "movielens", lambda d: F.ml1m(d, extra=["1::1::3::880000060"]),
         splits={"full": (11, 10, {"duplicate": 1})}),
    Case("ml1m-missing-user-file", "movielens", then(lambda d: F.ml1m(d), remove("users.dat")),
         err(r"movielens ml-1m: expected 'users\.dat' in", FileNotFoundError)),
]

CSV_RATINGS = [f"{u},{i},{r - 0.5:.1f},{t}" for u, i, r, t in R]
CSV = [
    Case("csv-missing-header", "movielens", lambda d: F.ml_csv(d, header=None), err(
        r"ratings\.csv: header '1,1,2\.5,880000060' does not start with the expected columns "
        r"'userId,movieId,rating,timestamp' \(it looks like a data line: is the header line missing\?\)$")),
    Case("csv-wrong-header", "movielens", lambda d: F.ml_csv(d, header="user,movie,rating,time"), err(
        r"ratings\.csv: header 'user,movie,rating,time' does not start with the expected columns")),
    Case("csv-semicolon-delimiter", "movielens",
         lambda d: F.ml_csv(d, header="userId;movieId;rating;timestamp", ratings=[x.replace(",", ";")
                                                                                  for x in CSV_RATINGS]),
         err(r"ratings\.csv: header 'userId;movieId;rating;timestamp' .*\(one column: is the delimiter ','\?\)$")),
    Case("csv-header-only", "movielens", lambda d: F.ml_csv(d, ratings=[]), err(
        r"ratings\.csv has its header line but no data lines; expected a CSV file with the header "
        r"userId,movieId,rating,timestamp$")),
    Case("csv-empty-file", "movielens", lambda d: F.ml_csv(d, header=None, ratings=[]), err(
        r"ratings\.csv is empty \(0 lines\); expected a header line 'userId,movieId,rating,timestamp'$")),
    Case("csv-bom-before-header", "movielens", lambda d: F.ml_csv(d, header="\ufeffuserId,movieId,rating,timestamp"),
         files={"ratings": (10, 10, {})}, splits={"full": (10, 10, {})}),
    Case("csv-quarter-star-and-nan-rating", "movielens",
         lambda d: F.ml_csv(d, extra=["1,2,3.25,880000999", "1,2,NaN,880000999"]),
         files={"ratings": (12, 10, {"rating out of range": 2})}),
    Case("csv-field-over-csv-limit", "movielens",
         lambda d: F.ml_csv(d, movie_lines=['6,"' + "x" * 200_000 + ' (1990)",Comedy']),
         files={"items": (6, 5, {"malformed csv": 1})}, splits={"full": (10, 10, {})}),
    Case("csv-bad-encoding", "movielens", lambda d: F.ml_csv(d, extra=[b"1,\xff2,3.0,880000999"]),
         files={"ratings": (11, 10, {"bad encoding": 1})}),
    Case("csv-duplicates-keep", "movielens", lambda d: F.ml_csv(d, extra=[CSV_RATINGS[0]]),
         options={"duplicates": "keep"}, splits={"full": (11, 11, {})}, notes={"duplicates_kept": {"full": 1}}),
]

AMAZON_REVIEWS = [F.review(u, i, r, 1000 * t) for u, i, r, t in R]
AMAZON = [
    Case("amazon-not-json-lines", "amazon_reviews", lambda d: F.amazon(d, reviews=tsv(R)), err(
        r"All_Beauty\.jsonl: none of its 10 lines could be read \(broken json: 10\).*Expected JSON lines, one review "
        r"per line; likely cause: not JSON lines \(one object per line\)\.$")),
    Case("amazon-empty-reviews", "amazon_reviews", lambda d: F.amazon(d, reviews=[]), err(
        r"All_Beauty\.jsonl is empty \(0 lines\)")),
    Case("amazon-nan-and-infinity-rating", "amazon_reviews",
         lambda d: F.amazon(d, extra=[F.review(1, 2, float("nan"), 1), F.review(1, 2, float("inf"), 2)]),
         files={"reviews": (12, 10, {"rating out of range": 2})}),
    Case("amazon-huge-rating", "amazon_reviews", lambda d: F.amazon(d, extra=[F.review(1, 2, 10 ** 400, 1)]),
         files={"reviews": (11, 10, {"non-numeric value": 1})}),
    Case("amazon-huge-timestamp", "amazon_reviews",
         lambda d: F.amazon(d, extra=[F.review(1, 2, 3.0, 10 ** 400), F.review(1, 3, 3.0, 1e25)]),
         files={"reviews": (12, 10, {"time out of range": 2})}),
    Case("amazon-id-not-a-string", "amazon_reviews",
         lambda d: F.amazon(d, extra=[F.review(1, 2, 3.0, 1).replace('"U1"', '["U1"]'),
                                      F.review(1, 2, 3.0, 1).replace('"U1"', '"U\\u0000"')]),
         files={"reviews": (12, 10, {"bad id": 2})}),
    Case("amazon-bad-encoding", "amazon_reviews",
         lambda d: F.amazon(d, extra=[b'{"rating": 4.0, "user_id": "U\xff", "parent_asin": "P1", "timestamp": 1}']),
         files={"reviews": (11, 10, {"bad encoding": 1})}),
    Case("amazon-exact-duplicates-drop", "amazon_reviews",
         lambda d: F.amazon(d, extra=[AMAZON_REVIEWS[0], F.review(*R[0][:2], 5, 1000 * R[0][3])]),
         files={"reviews": (12, 12, {})}, splits={"full": (12, 11, {"duplicate": 1})}),
    Case("amazon-duplicates-keep", "amazon_reviews", lambda d: F.amazon(d, extra=[AMAZON_REVIEWS[0]]),
         options={"duplicates": "keep"}, splits={"full": (11, 11, {})}, notes={"duplicates_kept": {"full": 1}}),
    Case("amazon-unknown-item-drop", "amazon_reviews", lambda d: F.amazon(d, extra=[F.review(1, 9, 3.0, 5000)]),
         splits={"full": (11, 10, {"unknown_item": 1})}),
    Case("amazon-huge-price-is-missing", "amazon_reviews",
         lambda d: F.amazon(d, meta_lines=[F.meta(1, price=10 ** 400)] + [F.meta(i) for i in F.ITEMS[1:]]),
         files={"meta": (5, 5, {})}, splits={"full": (10, 10, {})}, check=nan_price_for_item_1),
    Case("amazon-truncated-gz", "amazon_reviews",
         then(lambda d: F.amazon(d, gz=True),
              lambda d: F.truncated_gzip(os.path.join(d, "All_Beauty.jsonl.gz"), AMAZON_REVIEWS)),
         err(r"All_Beauty\.jsonl\.gz: the gzip file is truncated")),
    Case("amazon-not-gzip", "amazon_reviews",
         then(lambda d: F.amazon(d, gz=True),
              lambda d: F.write(os.path.join(d, "All_Beauty.jsonl.gz"), AMAZON_REVIEWS)),
         err(r"All_Beauty\.jsonl\.gz ends in \.gz but is not a gzip file")),
    Case("amazon-meta-is-a-directory", "amazon_reviews", then(lambda d: F.amazon(d),
                                                                replace_with_dir("meta_All_Beauty.jsonl")),
         err(r"amazon_reviews metadata of All_Beauty\.jsonl .*: '\S*meta_All_Beauty\.jsonl' is a directory")),
    Case("amazon-missing-meta", "amazon_reviews", then(lambda d: F.amazon(d), remove("meta_All_Beauty.jsonl")),
         err(r"amazon_reviews metadata of All_Beauty\.jsonl \(set data\.options\.require_meta=False to go "
             r"without\): expected 'meta_All_Beauty\.jsonl'", FileNotFoundError)),
    Case("amazon-k-core-drops-everything", "amazon_reviews", lambda d: F.amazon(d), options={"k_core": 9}, error=err(
        r"amazon_reviews: no rows left in split 'full' of \S*All_Beauty\.jsonl: all 10 rows read were dropped by "
        r"policy \(k_core: 10\); lower data\.options\.k_core$")),
    Case("amazon-bad-item-key", "amazon_reviews", lambda d: F.amazon(d), options={"item_key": "sku"}, error=err(
        r"data\.options\.item_key='sku'; valid: parent_asin, asin$")),
    Case("amazon-bad-duplicates-value", "amazon_reviews", lambda d: F.amazon(d), options={"duplicates": True},
         error=err(r"data\.options\.duplicates=True; valid: drop, keep$")),
]


def criteo(**kw):
  return lambda d: F.criteo(os.path.join(d, "train.txt"), **kw)


def criteo_bad(k=0, **kw):
  return F.criteo_line(k=100 + k, **kw)


CRITEO = [
    Case("criteo-comma-delimiter", "criteo",
         criteo(lines=[F.criteo_line(str(k % 2), k=k, sep=",") for k in range(10)]), err(
             r"train\.txt: none of its 10 lines could be read \(wrong column count: 10\); first: line 1 \(wrong "
             r"column count: 1 columns, expected 40\).*Expected '\\t'-separated label, 13 integer and 26 "
             r"categorical columns; likely cause: a wrong delimiter")),
    Case("criteo-empty-file", "criteo", criteo(lines=[]), err(r"train\.txt is empty \(0 lines\)")),
    Case("criteo-huge-integer", "criteo", criteo(extra=[criteo_bad(ints=["1" * 400] + ["1"] * 12)]),
         files={"impressions": (11, 10, {"value out of range": 1})}),
    Case("criteo-integer-beyond-int64", "criteo", criteo(extra=[criteo_bad(ints=["1"] * 12 + ["9" * 19])]),
         files={"impressions": (11, 10, {"value out of range": 1})}),
    Case("criteo-missing-integer-then-one-beyond-int64", "criteo",
         criteo(extra=[criteo_bad(ints=[""] + ["-" + "9" * 25] + ["1"] * 11)]),
         files={"impressions": (11, 10, {"value out of range": 1})}),
    Case("criteo-integer-1e25", "criteo", criteo(extra=[criteo_bad(ints=["1e25"] + ["1"] * 12)]),
         files={"impressions": (11, 10, {"non-numeric value": 1})}),
    Case("criteo-nan-and-inf-integers", "criteo",
         criteo(extra=[criteo_bad(ints=["nan"] + ["1"] * 12), criteo_bad(1, ints=["1"] * 12 + ["inf"])]),
         files={"impressions": (12, 10, {"non-numeric value": 2})}),
    Case("criteo-nan-and-out-of-range-labels", "criteo",
         criteo(extra=[criteo_bad(label="nan"), criteo_bad(1, label="2"), criteo_bad(2, label="-1")]),
         files={"impressions": (13, 10, {"invalid label": 3})}),
    Case("criteo-negative-integers-are-valid", "criteo", criteo(extra=[criteo_bad(ints=["-5"] * 13)]),
         files={"impressions": (11, 11, {})}, splits={"full": (11, 11, {})}),
    Case("criteo-invalid-categories", "criteo",
         criteo(extra=[criteo_bad(cats=["xyz"] + ["1"] * 25), criteo_bad(1, cats=["1"] * 25 + ["123456789"]),
                       criteo_bad(2, cats=["0x12"] + ["1"] * 25), criteo_bad(3, cats=[" 1f"] + ["1"] * 25)]),
         files={"impressions": (14, 10, {"invalid category": 4})}),
    Case("criteo-upper-case-short-and-empty-categories-are-valid", "criteo",
         criteo(extra=[criteo_bad(cats=["ABCDEF01", "a", "0A", ""] + ["1"] * 22)]),
         files={"impressions": (11, 11, {})}, splits={"full": (11, 11, {})}),
    Case("criteo-nul-byte", "criteo", criteo(extra=[criteo_bad().replace("00000c", "0\x000000").encode()]),
         files={"impressions": (11, 10, {"NUL byte": 1})}),
    Case("criteo-identical-lines-are-two-impressions", "criteo",
         criteo(extra=[F.criteo_line("1", k=9), F.criteo_line("1", k=9)]),
         files={"impressions": (12, 12, {})}, splits={"full": (12, 12, {})}, notes={"consecutive_repeats": 2}),
    Case("criteo-error-budget-at-the-limit", "criteo",
         criteo(lines=[F.criteo_line(k=k) for k in range(9)] + ["0\t1"]), budget=0.1,
         files={"impressions": (10, 9, {"wrong column count": 1})}),
    Case("criteo-error-budget-just-over", "criteo",
         criteo(lines=[F.criteo_line(k=k) for k in range(9)] + ["0\t1"]), budget=0.099, error=err(
             r"train\.txt: 1 of 10 lines are malformed \(10\.0%\), over the error budget data\.max_bad_fraction="
             r"0\.099 \(wrong column count: 1\); first: line 10 \(wrong column count: 2 columns, expected 40\)$")),
    Case("criteo-truncated-gz", "criteo",
         lambda d: F.truncated_gzip(os.path.join(d, "train.txt.gz"), [F.criteo_line(k=k) for k in range(50)]),
         err(r"train\.txt\.gz: the gzip file is truncated")),
    Case("criteo-no-train-file", "criteo", lambda d: (os.makedirs(d), d)[1],
         err(r"criteo \(the Kaggle Display Advertising Challenge's train\.txt; .*\): expected 'train\.txt' in",
             FileNotFoundError)),
    Case("criteo-unknown-option", "criteo", criteo(), options={"max_row": 5}, error=err(
        r"unknown criteo option\(s\) \['max_row'\]; valid: max_rows, ")),
    Case("criteo-bad-duplicates-value", "criteo", criteo(), options={"duplicates": "yes"}, error=err(
        r"data\.options\.duplicates='yes'; valid: drop, keep$")),
    Case("criteo-bad-block-rows", "criteo", criteo(), options={"block_rows": 0}, error=err(
        r"data\.options\.block_rows=0 must be an integer >= 1$")),
]


def recbole(**kw):
  return lambda d: F.recbole(d, **kw)


RECBOLE_LINES = [f"u{u}\ti{i}\t{r}\t{t}" for u, i, r, t in R]
RECBOLE = [
    Case("recbole-missing-header", "recbole_atomic", recbole(header=None), err(
        r"toy\.inter: header column 'u1' is not `field:type` \(types: token, token_seq, float, float_seq\) \(is the "
        r"header line missing\? it looks like a data line\)$")),
    Case("recbole-comma-separated-header", "recbole_atomic",
         recbole(header="user_id:token,item_id:token,rating:float,timestamp:float"), err(
             r"toy\.inter: header 'user_id:token,item_id:token,rating:float,timestamp:float' is one column; atomic "
             r"files are tab-separated, this one looks comma- or semicolon-separated$")),
    Case("recbole-unknown-header-type", "recbole_atomic",
         recbole(header="user_id:token\titem_id:token\trating:int\ttimestamp:float"), err(
             r"toy\.inter: header field 'rating' has unknown type 'int'; valid: token, token_seq, float, float_seq$")),
    Case("recbole-header-only", "recbole_atomic", recbole(inter=[]), err(
        r"toy\.inter has its header line but no data lines; expected tab-separated fields \['user_id', 'item_id', "
        r"'rating', 'timestamp'\] \(the header's\)$")),
    Case("recbole-empty-inter-file", "recbole_atomic", recbole(header=None, inter=[]), err(
        r"toy\.inter is empty \(0 lines\); expected a header line of tab-separated `field:type` columns$")),
    Case("recbole-all-lines-comma-separated", "recbole_atomic", recbole(inter=tsv(R, ",")), err(
        r"toy\.inter: none of its 10 lines could be read \(wrong column count: 10\).*a wrong delimiter")),
    Case("recbole-wrong-column-count", "recbole_atomic", recbole(extra=["u1\ti2\t3"]),
         files={"inter": (11, 10, {"wrong column count": 1})}),
    Case("recbole-nan-and-inf-rating", "recbole_atomic", recbole(extra=["u1\ti2\tnan\t5", "u1\ti2\t-inf\t6"]),
         files={"inter": (12, 10, {"non-finite value": 2})}),
    Case("recbole-rating-beyond-float32", "recbole_atomic", recbole(extra=["u1\ti2\t1e39\t5"]),
         files={"inter": (11, 10, {"value out of range": 1})}),
    Case("recbole-inf-and-1e25-timestamp", "recbole_atomic", recbole(extra=["u1\ti2\t3\tinf", "u1\ti2\t3\t1e25"]),
         files={"inter": (12, 10, {"time out of range": 2})}),
    Case("recbole-empty-rating-has-no-label", "recbole_atomic", recbole(extra=["u1\ti2\t\t900"]), threshold=3.0,
         files={"inter": (11, 11, {})}, splits={"full": (11, 11, {})}, check=only_first_label_missing),
    Case("recbole-empty-rating-is-dropped-when-it-is-the-label", "recbole_atomic", recbole(extra=["u1\ti2\t\t900"]),
         label="rating", files={"inter": (11, 11, {})}, splits={"full": (11, 11, {})},
         check=rating_label_dropped_not_imputed),
    Case("recbole-nul-byte", "recbole_atomic", recbole(extra=[b"u1\ti\x002\t3\t5"]),
         files={"inter": (11, 10, {"NUL byte": 1})}),
    Case("recbole-exact-duplicate", "recbole_atomic", recbole(extra=[RECBOLE_LINES[0]]),
         splits={"full": (11, 10, {"duplicate": 1})}),
    Case("recbole-same-pair-without-time-is-kept", "recbole_atomic",
         recbole(header="user_id:token\titem_id:token\trating:float",
                 inter=[f"u{u}\ti{i}\t{r}" for u, i, r, _ in R] + [f"u{R[0][0]}\ti{R[0][1]}\t{R[0][2]}"]),
         splits={"full": (11, 11, {})}),
    Case("recbole-unisrec-repeated-line", "recbole_atomic",
         lambda d: F.unisrec(d, ["1\t1\t2", "1\t1 2\t3", "1\t1 2\t3", "2\t3\t4"]), split={"kind": "predefined"},
         splits={"train": (4, 3, {"duplicate": 1}), "validation": (2, 2, {}), "test": (2, 2, {})}),
    Case("recbole-unknown-item-drop", "recbole_atomic", recbole(extra=["u1\ti9\t3\t999"]),
         splits={"full": (11, 10, {"unknown_item": 1})}),
    Case("recbole-inf-price-in-item-file", "recbole_atomic",
         recbole(item_lines=["i1\tItem 1\tinf"] + [f"i{i}\tItem {i}\t{i}.5" for i in F.ITEMS[1:]]),
         files={"item": (5, 4, {"non-finite value": 1})}, splits={"full": (10, 8, {"unknown_item": 2})}),
    Case("recbole-item-file-is-a-directory", "recbole_atomic",
         then(lambda d: F.recbole(d), replace_with_dir("toy/toy.item")), err(
             r"'\S*toy\.item' is a directory; expected the file 'toy\.item' there$")),
    Case("recbole-bad-unknown-ids-value", "recbole_atomic", recbole(), options={"unknown_ids": "x"},
         error=err(r"data\.options\.unknown_ids='x'; valid: drop, oov$")),
    Case("recbole-unknown-option", "recbole_atomic", recbole(), options={"time": "t"}, error=err(
        r"recbole_atomic has no option\(s\) \['time'\]; valid: dataset, user_field, ")),
]


def seq(**kw):
  return lambda d: F.sequence_txt(os.path.join(d, "data.txt"), **kw)


SEQUENCE_TXT = [
    Case("sequence_txt-comma-separated", "sequence_txt", seq(lines=[f"{u},{i}" for u, i in F.PAIRS]), err(
        r"data\.txt: none of its 10 lines could be read \(wrong column count: 10\).*Expected one `user item` pair "
        r"of integer ids per line; likely cause: a wrong delimiter")),
    Case("sequence_txt-empty-file", "sequence_txt", seq(lines=[]), err(r"data\.txt is empty \(0 lines\)")),
    Case("sequence_txt-utf16-file", "sequence_txt",
         lambda d: F.write(os.path.join(d, "data.txt"), raw=("\n".join(f"{u} {i}" for u, i in F.PAIRS) + "\n")
                           .encode("utf-16")),
         err(r"data\.txt: none of its 11 lines could be read \(NUL byte: 10, bad encoding: 1\).*a binary, "
             r"compressed or UTF-16 file")),
    Case("sequence_txt-negative-id", "sequence_txt", seq(extra=["1 -4"]),
         files={"sequences": (11, 10, {"negative id": 1})}),
    Case("sequence_txt-huge-and-float-ids", "sequence_txt", seq(extra=["1 " + "9" * 400, "1 2.5", "1e3 2"]),
         files={"sequences": (13, 10, {"id out of range": 1, "non-numeric id": 2})}),
    Case("sequence_txt-nul-byte-and-bad-encoding", "sequence_txt", seq(extra=[b"1 \x002", b"1 \xff"]),
         files={"sequences": (12, 10, {"NUL byte": 1, "bad encoding": 1})}),
    Case("sequence_txt-10mb-line", "sequence_txt", seq(extra=["1 " + "2" * TEN_MB]),
         files={"sequences": (11, 10, {"line too long": 1})}),
    Case("sequence_txt-consecutive-repeats-are-kept", "sequence_txt", seq(extra=["2 5", "2 5"]),
         files={"sequences": (12, 12, {})}, splits={"full": (12, 12, {})}, notes={"consecutive_repeats": 2}),
    Case("sequence_txt-duplicates-keep", "sequence_txt", seq(extra=["2 5"]), options={"duplicates": "keep"},
         splits={"full": (11, 11, {})}, notes={"consecutive_repeats": 1, "duplicates_kept": {"full": 0}}),
    Case("sequence_txt-txt-is-a-directory", "sequence_txt", lambda d: (os.makedirs(os.path.join(d, "x.txt")), d)[1],
         err(r"sequence_txt \(one `user item` pair per line\): '\S*x\.txt' is a directory; expected the \.txt file "
             r"there$")),
    Case("sequence_txt-truncated-gz", "sequence_txt",
         lambda d: F.truncated_gzip(os.path.join(d, "data.txt.gz"), [f"{u} {i}" for u, i in F.PAIRS] * 30),
         err(r"data\.txt\.gz: the gzip file is truncated")),
    Case("sequence_txt-error-budget-just-over", "sequence_txt", seq(lines=["1 1"] * 9 + ["1 x"]), budget=0.099,
         error=err(r"data\.txt: 1 of 10 lines are malformed \(10\.0%\), over the error budget "
                   r"data\.max_bad_fraction=0\.099 \(non-numeric id: 1\); first: line 10 \(non-numeric id: item 'x': "
                   r"ids must be integers\)$")),
    Case("sequence_txt-unknown-option", "sequence_txt", seq(), options={"names": "x"}, error=err(
        r"sequence_txt has no option\(s\) \['names'\]; valid: file, name, duplicates$")),
]


def useq(**kw):
  return lambda d: F.user_sequences(os.path.join(d, "seq.txt"), **kw)


USER_SEQUENCES = [
    Case("user_sequences-comma-separated", "user_sequences", useq(lines=[x.replace(" ", ",")
                                                                         for x in F.USER_SEQUENCES]), err(
        r"seq\.txt: none of its 3 lines could be read \(no items: 3\).*Expected one `user item item \.\.\.` line of "
        r"integer ids per user, whitespace-separated; likely cause: a wrong delimiter \(ids are "
        r"whitespace-separated\)")),
    Case("user_sequences-empty-file", "user_sequences", useq(lines=[]), err(r"seq\.txt is empty \(0 lines\)")),
    Case("user_sequences-consecutive-repeat-is-kept", "user_sequences", useq(extra=["4 7 7 8"]),
         files={"sequences": (4, 4, {})}, splits={"full": (16, 16, {})}, notes={"consecutive_repeats": 1}),
    Case("user_sequences-negative-and-huge-ids", "user_sequences", useq(extra=["4 1 -2", "5 " + "1" * 400]),
         files={"sequences": (5, 3, {"negative id": 1, "id out of range": 1})}, splits={"full": (13, 13, {})}),
    Case("user_sequences-repeated-user-and-user-only-line", "user_sequences", useq(extra=["1 9 9", "5"]),
         files={"sequences": (5, 3, {"repeated user": 1, "no items": 1})}),
    Case("user_sequences-duplicates-keep", "user_sequences", useq(), options={"duplicates": "keep"},
         splits={"full": (13, 13, {})}, notes={"duplicates_kept": {"full": 0}, "consecutive_repeats": 0}),
    Case("user_sequences-bad-duplicates-value", "user_sequences", useq(), options={"duplicates": "all"},
         error=err(r"data\.options\.duplicates='all'; valid: drop, keep$")),
]

CASES = ML100K + ML1M + CSV + AMAZON + CRITEO + RECBOLE + SEQUENCE_TXT + USER_SEQUENCES
assert len({c.id for c in CASES}) == len(CASES)


def _config(name, path, data_dir, options=None, budget=0.5, split=None, threshold=0.0):
  return ml_collections.ConfigDict(dict(
      name=name, path=str(path), data_dir=str(data_dir), options=dict(options or {}), max_bad_fraction=budget,
      implicit_threshold=threshold,
      split={**dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
                    validation_fraction=0.1), **(split or {})}))


@pytest.fixture(scope="module")
def shared_data_dir(tmp_path_factory):
  """One TFDS data_dir for the cases that build a dataset: each case's files (paths, sizes, times) make its own
  config, so they never meet."""
  return str(tmp_path_factory.mktemp("tfds"))


def _nothing_stored(data_dir) -> None:
  """No dataset (a version directory) and no unfinished one (TFDS's incomplete.* directory) in data_dir."""
  left = [p for p in glob.glob(os.path.join(data_dir, "*", "*", "*"))
          if not p.startswith(os.path.join(data_dir, "downloads"))]
  assert not left, left


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, shared_data_dir):
  path = case.write(str(tmp_path / "data"))
  if case.error:
    data_dir = tmp_path / "tfds"
    kind, pattern = case.error
    with pytest.raises(kind, match=pattern) as caught:
      load_dataset(_config(case.name, path, data_dir, case.options, case.budget, case.split, case.threshold))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 2000, message   # one line, of a readable length
    _nothing_stored(str(data_dir))
    return
  raw = load_dataset(_config(case.name, path, shared_data_dir, case.options, case.budget, case.split,
                             case.threshold),
                     FeatureOptions(label=case.label) if case.label != "label" else None)
  report = raw.source_report
  assert case.files or case.splits or case.notes, "a case must expect something"
  for f in report["files"].values():
    assert f["lines_read"] == f["lines_kept"] + f["lines_dropped"] == f["lines_kept"] + sum(f["dropped"].values())
  for s in report["splits"].values():
    assert s["rows_read"] == s["rows_kept"] + s["rows_dropped"] == s["rows_kept"] + sum(s["dropped"].values())
  for role, (read, kept, dropped) in case.files.items():
    f = report["files"][role]
    assert (f["lines_read"], f["lines_kept"], f["dropped"]) == (read, kept, dropped), f
  for name, expected in case.splits.items():
    s = report["splits"][name]
    assert (s["rows_read"], s["rows_kept"], s["dropped"]) == expected[:3], s
    assert s["replaced_by_oov"] == (expected[3] if len(expected) > 3 else {}), s
  for key, value in case.notes.items():
    assert report["notes"][key] == value, report["notes"]
  rows = sum(len(raw.splits[s]["user_id"]) for s in raw.splits)
  used = report["used_splits"]
  assert rows == sum(report["splits"][s]["rows_kept"] for s in used)   # every kept row reaches the run
  if case.check:
    case.check(raw)


def test_the_corpus_covers_every_format_and_both_outcomes():
  names = {c.name for c in CASES}
  assert names == {"movielens", "amazon_reviews", "criteo", "recbole_atomic", "sequence_txt", "user_sequences"}
  errors = sum(1 for c in CASES if c.error)
  assert len(CASES) >= 70 and errors >= 30 and len(CASES) - errors >= 30


# ---- A failed build leaves nothing; reading stops early on an unreadable file ------------------------------------

def test_an_over_budget_build_leaves_no_dataset_and_a_higher_budget_builds_it(tmp_path):
  path = F.ml100k(str(tmp_path / "ml"), ratings=tsv(R[:8]) + ["x\t1\t1\t1", "1\t2"])
  data_dir = tmp_path / "tfds"
  for _ in range(2):   # the second run must not find a (partial) dataset to read as valid
    with pytest.raises(UserError, match=r"u\.data: 2 of 10 lines are malformed \(20\.0%\)"):
      load_dataset(_config("movielens", path, data_dir, budget=0.1))
    _nothing_stored(str(data_dir))
  raw = load_dataset(_config("movielens", path, data_dir, budget=0.2))
  assert raw.source_report["files"]["ratings"]["dropped"] == {"non-numeric id": 1, "wrong column count": 1}
  # The stored dataset is checked again with the budget of the run that reads it.
  with pytest.raises(UserError, match=r"2 of 10 lines are malformed \(20\.0%\), over the error budget "
                                      r"data\.max_bad_fraction=0\.1 "):
    load_dataset(_config("movielens", path, data_dir, budget=0.1))


def test_reading_stops_once_the_first_lines_are_all_malformed(tmp_path, monkeypatch):
  from rec_jax.data.formats import source_report
  monkeypatch.setattr(source_report, "ABORT_AFTER", 100)
  path = F.criteo(str(tmp_path / "train.txt"), lines=[F.criteo_line(k=k, sep=",") for k in range(1000)])
  with pytest.raises(UserError, match=r"train\.txt: none of the first 100 lines could be read \(wrong column "
                                      r"count: 100\)"):
    load_dataset(_config("criteo", path, tmp_path / "tfds"))
  # Without a budget below 1 every line is read (and the empty split is the error).
  with pytest.raises(UserError, match=r"train\.txt: none of its 1000 lines could be read"):
    load_dataset(_config("criteo", path, tmp_path / "tfds", budget=1.0))


# ---- Offline with an empty data.path -------------------------------------------------------------------------

def _zip_of_ml100k(root) -> bytes:
  F.ml100k(os.path.join(root, "ml-100k"))
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as z:
    for name in ("u.data", "u.user", "u.item"):
      z.write(os.path.join(root, "ml-100k", name), f"ml-100k/{name}")
  return buffer.getvalue()


def test_offline_with_an_empty_path_fails_fast_naming_the_url_and_the_fix(tmp_path, monkeypatch):
  from rec_jax.data.datasets import movielens
  for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    monkeypatch.delenv(key, raising=False)
  # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once, as with no network.
  url = "https://127.0.0.1:9/ml-100k.zip"
  monkeypatch.setitem(movielens.URLS, "100k", url)
  start = time.monotonic()
  with pytest.raises(UserError) as caught:
    load_dataset(_config("movielens", "", tmp_path / "tfds"))
  assert time.monotonic() - start < 10
  message = str(caught.value)
  assert re.fullmatch(
      r"data\.path is empty and the movielens files could not be downloaded from https://127\.0\.0\.1:9/ml-100k\.zip "
      r"\(no network: 127\.0\.0\.1:9: .+\); download them from https://grouplens\.org/datasets/movielens/ and set "
      r"data\.path to their directory", message), message
  # A proxy for the scheme is what the download would go through: it is the host probed.
  monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
  from rec_jax.data.formats.real_dataset import unreachable
  assert unreachable("https://files.grouplens.org/datasets/movielens/ml-100k.zip", timeout=2).startswith("127.0.0.1:9:")


class _Files(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):   # no request lines on stderr
    pass


def test_the_download_path_still_downloads_and_then_works_offline_from_its_cache(tmp_path, monkeypatch):
  from rec_jax.data.datasets import movielens
  for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    monkeypatch.delenv(key, raising=False)
  served = tmp_path / "served"
  served.mkdir()
  (served / "ml-100k.zip").write_bytes(_zip_of_ml100k(str(tmp_path / "src")))
  handler = lambda *a, **kw: _Files(*a, directory=str(served), **kw)  # noqa: E731
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  url = f"http://127.0.0.1:{server.server_address[1]}/ml-100k.zip"
  monkeypatch.setitem(movielens.URLS, "100k", url)
  try:
    raw = load_dataset(_config("movielens", "", tmp_path / "tfds"))
  finally:
    server.shutdown()
    server.server_close()
  assert raw.source_report["files"]["ratings"]["lines_kept"] == 10
  # The server is gone (as the network would be): the cached download is used, no probe stands in the way.
  again = load_dataset(_config("movielens", "", tmp_path / "tfds"))
  assert again.source_report == raw.source_report


# ---- TFDS's noise -------------------------------------------------------------------------------------------

def test_a_local_build_logs_no_tfds_noise_and_real_tfds_warnings_still_pass(tmp_path, capfd, caplog):
  from absl import logging as absl_logging
  path = F.ml100k(str(tmp_path / "ml"))
  with caplog.at_level(logging.INFO):
    load_dataset(_config("movielens", path, tmp_path / "tfds"))
    absl_logging.warning("Using custom data configuration: %s", "someone else's config")
    absl_logging.warning("a real TFDS warning")
  out, err_text = capfd.readouterr()
  records = [r.getMessage() for r in caplog.records]
  assert not [m for m in records if "Using custom data configuration: TableConfig" in m], records
  assert "Using custom data configuration: someone else's config" in records and "a real TFDS warning" in records
  assert any(m.startswith("generating dataset movielens/") for m in records), records
  assert "Downloading and preparing" not in out + err_text and "downloaded and prepared" not in out + err_text
  assert "\r" not in err_text and "Generating splits" not in err_text, err_text[:500]


def test_the_synthetic_shop_build_is_quiet_too(tmp_path, capfd, caplog):
  cfg = ml_collections.ConfigDict(dict(name="synthetic_shop", data_dir=str(tmp_path / "tfds"), path="",
                                       shop=dict(num_users=40, num_items=30, num_impressions=600,
                                                 history_length=3, dirty_rate=0.0, seed=3)))
  with caplog.at_level(logging.WARNING):
    load_dataset(cfg)
  out, err_text = capfd.readouterr()
  assert not [r for r in caplog.records if "custom data configuration" in r.getMessage()]
  assert "Downloading and preparing" not in out + err_text and "\r" not in err_text


# ---- The command line ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("problem", ["wrong_delimiter", "truncated_gz", "ratings_file_is_a_directory"])
def test_the_command_line_ends_with_one_error_line(problem, tmp_path):
  from rec_jax.main import invoke
  data = str(tmp_path / "ml")
  if problem == "wrong_delimiter":
    F.ml100k(data, ratings=tsv(R, ","))
    expected = r"error: \S+/u\.data: none of its 10 lines could be read \(wrong column count: 10\); first: .*"
  elif problem == "truncated_gz":
    F.ml100k(data, gz=True)
    F.truncated_gzip(os.path.join(data, "u.data.gz"), ratings_100k() * 20)
    expected = r"error: \S+/u\.data\.gz: the gzip file is truncated \(its data ends after line \d+, .*"
  else:
    then(ml100k(), replace_with_dir("u.data"))(data)
    # (the config names variant=100k, so the format says which release it looked for)
    expected = r"error: movielens ml-100k: '\S+/u\.data' is a directory; expected the file 'u\.data' there"
  code, line = invoke(["--config=configs/movielens_rating.py:smoke", f"--workdir={tmp_path / 'run'}",
                       f"--config.data.path={data}", f"--config.data.data_dir={tmp_path / 'tfds'}"])
  assert code == 1 and re.fullmatch(expected, line), line
  _nothing_stored(str(tmp_path / "tfds"))
