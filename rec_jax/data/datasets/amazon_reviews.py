"""McAuley-lab Amazon reviews with item metadata, JSON lines, read from the official files unchanged (plain or .gz):
- 2023 release (Hou et al., amazon-reviews-2023): reviews `<Category>.jsonl` (rating, title, text, images, asin,
  parent_asin, user_id, timestamp in milliseconds, helpful_vote, verified_purchase) and metadata
  `meta_<Category>.jsonl` (main_category, title, average_rating, rating_number, features, description, price,
  images, videos, store, categories, details, parent_asin, bought_together);
- 2018 release (Ni et al.): reviews `<Category>.json` or the 5-core `<Category>_5.json` (overall, reviewerID, asin,
  unixReviewTime in seconds, reviewText, summary, ...) and metadata `meta_<Category>.json` (asin, title,
  description, category, brand, price as text: "$12.99", "" or a range "$1.00 - $3.00"); the 2014 dumps
  (`reviews_<Category>.json`) are read too, their metadata lines being Python dict literals rather than JSON.
The release is read off each line's keys. `data.path` is a directory holding one reviews file and its metadata
file, or the reviews file itself (its metadata is then `meta_<name>` beside it). Options: `category` (which
reviews file of a directory holding several; also what `download` fetches), `item_key` (`parent_asin`, the
2023 item that groups colour/size variants, or `asin`; 2018 lines have only `asin`; the 2023 metadata describes
parent items, so `asin` leaves their side features unknown), `k_core` (0: none), `unknown_ids` (`drop` | `oov`,
reviews of items the metadata lacks), `min_rating`/`max_rating` (1, 5), `require_meta` (True), `duplicates`
(`drop` | `keep`: reviews repeating an earlier one in user, item, rating and timestamp, as the 2014/2018 dumps list
some reviews twice; formats/duplicates.py).
A review line is malformed (dropped and counted against data.max_bad_fraction) when it is not a JSON object ("broken
json"), lacks a key ("missing field"), has an id that is not a string or number or holds a NUL ("bad id"), a
rating that is no finite number in min_rating..max_rating ("non-numeric value", "rating out of range": NaN and
Infinity too), or a timestamp that is not an integer ("non-numeric value") or beyond int64 ("time out of range").
Columns: user_id, item_id, rating, timestamp (seconds in both releases), order (line number, the tie-break of
equal timestamps); items: title, description (its paragraphs joined by " "), category (the most specific entry of
the category path, else main_category), brand (2018 brand; 2023 details["Brand"], else the store), price (NaN when
missing or unreadable; a range is its midpoint).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
import re
from typing import Dict, List

import numpy as np

from rec_jax.data.formats import duplicates, side_tables
from rec_jax.data.formats.lines import find_file, optional_file, read_lines
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport, SplitAccount
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import FLOAT32_MAX, BadValue, check_int64
from rec_jax.errors import UserError

URL_2023 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/raw"
ITEM_COLUMNS = ("title", "description", "category", "brand", "price")
ITEM_KEYS = ("parent_asin", "asin")
# Keys that only the 2018 (and 2014) review lines have, and only the 2023 metadata lines have.
_KEYS_2018 = ("reviewerID", "overall", "unixReviewTime", "reviewTime")
_META_KEYS_2023 = ("parent_asin", "main_category", "average_rating", "rating_number", "store")
_AMOUNT = r"\$?\s*(\d[\d,]*(?:\.\d+)?|\.\d+)"
_PRICE = re.compile(rf"^\s*{_AMOUNT}\s*(?:-\s*{_AMOUNT}\s*)?$")


@dataclasses.dataclass(frozen=True)
class Options:
  category: str = ""
  item_key: str = "parent_asin"
  k_core: int = 0
  unknown_ids: str = "drop"
  min_rating: float = 1.0
  max_rating: float = 5.0
  require_meta: bool = True
  duplicates: str = "drop"


def parse_options(options: dict) -> Options:
  opts = format_options("amazon_reviews", options, Options)
  if opts.item_key not in ITEM_KEYS:
    raise UserError(f"data.options.item_key={opts.item_key!r}; valid: {', '.join(ITEM_KEYS)}")
  if int(opts.k_core) != opts.k_core or opts.k_core < 0:
    raise UserError(f"data.options.k_core={opts.k_core!r} must be a non-negative integer (0: no k-core)")
  if not opts.min_rating <= opts.max_rating:
    raise UserError(f"data.options.min_rating={opts.min_rating} is above max_rating={opts.max_rating}")
  side_tables.check_policy(opts.unknown_ids)
  duplicates.check_policy(opts.duplicates)
  return opts


_Bad = BadValue   # a malformed line: its drop reason and detail


def decode_line(text: str) -> dict:
  """One JSON object; failing that a Python dict literal (the 2014 metadata), read with the safe literal_eval."""
  try:
    record = json.loads(text)
  except (ValueError, RecursionError) as e:
    try:
      record = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
      raise _Bad("broken json", str(e)[:120]) from None
  if not isinstance(record, dict):
    raise _Bad("broken json", f"a {type(record).__name__}, not an object")
  return record


def _field(record: dict, key: str):
  value = record.get(key)
  if value is None or (isinstance(value, str) and not value.strip()):
    raise _Bad("missing field", key)
  return value


def _id(record: dict, key: str) -> str:
  value = _field(record, key)
  if isinstance(value, bool) or not isinstance(value, (str, int)):
    raise _Bad("bad id", f"{key}={str(value)[:40]!r} is not a string or integer")
  text = str(value).strip()
  if "\0" in text:
    raise _Bad("bad id", f"{key}={text[:40]!r} holds a NUL character")
  return text


def _number(record: dict, key: str, integer: bool = False):
  """A number field: a float (NaN and infinities pass; the rating's range check drops them), or with `integer` an
  integer within int64 ("time out of range" beyond)."""
  value = _field(record, key)
  non_numeric = _Bad("non-numeric value", f"{key}={str(value)[:40]!r}")
  if isinstance(value, bool) or not isinstance(value, (int, float, str)):
    raise non_numeric
  if integer and isinstance(value, int):
    return check_int64(value, key, "time out of range")
  try:
    number = float(value)
  except (ValueError, OverflowError):
    raise non_numeric from None
  if not integer:
    return number
  if not (math.isfinite(number) and number.is_integer()):
    raise non_numeric
  return check_int64(int(number), key, "time out of range")


def review_row(record: dict, opts: Options) -> tuple:
  """(user, item, rating, timestamp in seconds) of one review line."""
  old = any(k in record for k in _KEYS_2018)
  user_key, item_key, rating_key, time_key = (("reviewerID", "asin", "overall", "unixReviewTime") if old else
                                              ("user_id", opts.item_key, "rating", "timestamp"))
  user, item = _id(record, user_key), _id(record, item_key)
  for key in (rating_key, time_key):   # every missing key is reported before a non-numeric value
    _field(record, key)
  rating, timestamp = _number(record, rating_key), _number(record, time_key, integer=True)
  if not opts.min_rating <= rating <= opts.max_rating:
    raise _Bad("rating out of range", f"{rating_key}={record[rating_key]!r} not in "
                                      f"{opts.min_rating:g}..{opts.max_rating:g}")
  return user, item, rating, timestamp if old else timestamp // 1000


def price(value) -> float:
  """A price as a float: numbers as they are, "$12.99" and "$1,299.00" read, a range "$1.00 - $3.00" its midpoint,
  anything else (missing, "", the HTML some 2018 lines carry) NaN."""
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    try:
      amount = float(value)
    except OverflowError:   # an integer beyond float range
      return math.nan
  else:
    m = _PRICE.match(value) if isinstance(value, str) else None
    if not m:
      return math.nan
    amounts = [float(a.replace(",", "")) for a in m.groups() if a is not None]
    amount = sum(amounts) / len(amounts)
  # Beyond float32 (the stored type) it would be inf: unreadable, like any other unreadable price.
  return amount if math.isfinite(amount) and abs(amount) <= FLOAT32_MAX else math.nan


def category(record: dict) -> str:
  """The most specific entry of the category path (2023 `categories`, 2018 `category`, 2014 `categories`: a list
  of paths, of which the first), else the main category."""
  path = record.get("categories", record.get("category"))
  if isinstance(path, list) and path and isinstance(path[0], list):
    path = path[0]
  names = [c.strip() for c in path if isinstance(c, str) and c.strip()] if isinstance(path, list) else []
  if isinstance(path, str) and path.strip():
    names = [path.strip()]
  return names[-1] if names else str(record.get("main_category") or record.get("main_cat") or "").strip()


def _text(value) -> str:
  if isinstance(value, list):
    return " ".join(str(v).strip() for v in value if v is not None and str(v).strip())
  return str(value).strip() if value is not None else ""


def meta_row(record: dict) -> tuple:
  """(item, (title, description, category, brand, price)) of one metadata line."""
  key = "parent_asin" if any(k in record for k in _META_KEYS_2023) else "asin"
  item = _id(record, key)
  details = record.get("details") if isinstance(record.get("details"), dict) else {}
  brand = record.get("brand") or details.get("Brand") or record.get("store") or ""
  return item, (_text(record.get("title")), _text(record.get("description")), category(record),
                _text(brand), price(record.get("price")))


def read_meta(path: str, report: FileReport) -> Dict[str, tuple]:
  """{item: side features}; a malformed or repeated line is dropped (a repeat keeps the first description)."""
  table: Dict[str, tuple] = {}
  for number, text in read_lines(path, report, "utf-8"):
    try:
      item, values = meta_row(decode_line(text))
    except _Bad as e:
      report.bad(number, e.reason, e.detail)
      continue
    if item in table:
      report.bad(number, "duplicate id", item)
      continue
    report.keep()
    table[item] = values
  return table


def read_reviews(path: str, report: FileReport, opts: Options) -> Dict[str, np.ndarray]:
  rows: List[tuple] = []
  for number, text in read_lines(path, report, "utf-8"):
    try:
      row = review_row(decode_line(text), opts)
    except _Bad as e:
      report.bad(number, e.reason, e.detail)
      continue
    report.keep()
    rows.append((*row, number))
  user, item, rating, ts, line = zip(*rows) if rows else ((),) * 5
  return {"user_id": np.array(user, dtype=object), "item_id": np.array(item, dtype=object),
          "rating": np.array(rating, dtype=np.float32), "timestamp": np.array(ts, dtype=np.int64),
          "order": np.array(line, dtype=np.int64)}


def _keep(rows: Dict[str, np.ndarray], keep: np.ndarray, account: SplitAccount, reason: str):
  account.drop(reason, int((~keep).sum()))
  return {k: v[keep] for k, v in rows.items()}


def k_core(rows: Dict[str, np.ndarray], k: int, account: SplitAccount):
  """Drops users and items with fewer than k reviews until none is left (dropping one can push another under k);
  returns (rows, rounds that dropped something)."""
  keep, rounds = np.ones(len(rows["user_id"]), dtype=bool), 0
  while k > 1 and keep.any():
    index = np.flatnonzero(keep)
    ok = np.ones(len(index), dtype=bool)
    for key in ("user_id", "item_id"):
      _, inverse, counts = np.unique(rows[key][index].astype(str), return_inverse=True, return_counts=True)
      ok &= counts[inverse.reshape(-1)] >= k
    if ok.all():
      break
    keep[index[~ok]] = False
    rounds += 1
  return _keep(rows, keep, account, "k_core"), rounds


def _stem(name: str) -> str:
  return name[:-len(".gz")] if name.endswith(".gz") else name


def reviews_files(root: str) -> List[str]:
  """The reviews files of a directory: every `*.jsonl` / `*.json` (or .gz) except the `meta_*` ones."""
  return sorted(n for n in os.listdir(root) if _stem(n).endswith((".jsonl", ".json")) and not n.startswith("meta_")
                and os.path.isfile(os.path.join(root, n)))


def meta_names(reviews: str) -> List[str]:
  """Where the metadata of reviews file `reviews` is: `meta_<name>`, the 5-core's `meta_<Category>.json`, the
  2014 `reviews_<Category>.json`'s `meta_<Category>.json`."""
  stem = _stem(os.path.basename(reviews))
  name, ext = os.path.splitext(stem)
  base = name[:-len("_5")] if name.endswith("_5") else name
  base = base[len("reviews_"):] if base.startswith("reviews_") else base
  return list(dict.fromkeys([f"meta_{name}{ext}", f"meta_{base}{ext}"]))


class AmazonReviewsFormat:
  name = "amazon_reviews"
  homepage = "https://amazon-reviews-2023.github.io/"
  description = ("Amazon product reviews (1-5 stars) per category with item metadata (title, description, "
                 "category, brand, price), McAuley lab, 2018 and 2023 releases.")
  license = ("research use only, no redistribution; cite Hou et al. 2024 (Bridging Language and Items for "
             "Retrieval and Recommendation) for the 2023 release, Ni et al. 2019 (Justifying Recommendations "
             "using Distantly-Labeled Reviews and Fine-Grained Aspects) for the 2018 one")

  def _reviews(self, path: str, opts: Options) -> str:
    if os.path.isfile(path):
      if os.path.basename(path).startswith("meta_"):
        raise UserError(f"data.path={path!r} is a metadata file; give the reviews file or their directory")
      return path
    if opts.category:
      c = opts.category
      return find_file(path, [f"{c}.jsonl", f"{c}.json", f"{c}_5.json", f"reviews_{c}.json", f"reviews_{c}_5.json"],
                       f"amazon_reviews category {c!r}")
    found = reviews_files(path) if os.path.isdir(path) else []
    if not found:
      find_file(path, ["<Category>.jsonl", "<Category>.json"], "amazon_reviews reviews file")
    if len(found) > 1:
      raise UserError(f"{os.path.abspath(path)!r} holds several amazon_reviews reviews files {found}; choose one "
                      f"with data.options.category (e.g. {_stem(found[0]).split('.')[0]!r})")
    return os.path.join(path, found[0])

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    opts = parse_options(options)
    reviews = self._reviews(path, opts)
    names, root = meta_names(reviews), os.path.dirname(reviews)
    what = f"amazon_reviews metadata of {os.path.basename(reviews)} (set data.options.require_meta=False to go without)"
    meta = find_file(root, names, what) if opts.require_meta else optional_file(root, names)
    return {"reviews": reviews, **({"meta": meta} if meta else {})}

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    cols = {"user_id": "id", "item_id": "id", "rating": "number", "timestamp": "integer", "order": "integer"}
    if "meta" in files:
      cols.update({"title": "text", "description": "text", "category": "category", "brand": "category",
                   "price": "number"})
    return cols

  def download_urls(self, options: dict) -> List[str]:
    """The 2023 release's reviews and metadata URLs of `options.category`."""
    opts = parse_options(options)
    if not opts.category:
      raise UserError("downloading amazon_reviews needs data.options.category (e.g. 'All_Beauty'; the categories: "
                      f"{self.homepage})")
    c = opts.category
    return [f"{URL_2023}/review_categories/{c}.jsonl.gz", f"{URL_2023}/meta_categories/meta_{c}.jsonl.gz"]

  def download(self, dl_manager, options: dict) -> str:
    """The 2023 release's reviews and metadata of `options.category`, linked under their official names."""
    reviews_url, meta_url = self.download_urls(options)
    c = parse_options(options).category
    paths = dl_manager.download({"reviews": reviews_url, "meta": meta_url})
    # The download manager names files by URL hash; locate() wants the official names.
    root = os.path.join(str(dl_manager.download_dir), f"amazon_reviews_2023_{c}")
    os.makedirs(root, exist_ok=True)
    for role, name in (("reviews", f"{c}.jsonl.gz"), ("meta", f"meta_{c}.jsonl.gz")):
      link = os.path.join(root, name)
      if not os.path.lexists(link):
        os.symlink(os.path.abspath(str(paths[role])), link)
    return root

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    opts = parse_options(options)
    items = (read_meta(files["meta"], report.file("meta", files["meta"], "JSON lines, one item's metadata per line"))
             if "meta" in files else None)
    rows = read_reviews(files["reviews"], report.file("reviews", files["reviews"], "JSON lines, one review per line"),
                        opts)
    account = report.split("full", files["reviews"])
    account.rows_read = len(rows["user_id"])
    # The first copy of each review stays (before the join: <oov> ids would make different reviews look equal).
    rows = duplicates.apply(rows, opts.duplicates, account, report, "full")

    def join(r):
      return side_tables.join(r, "item_id", items, ITEM_COLUMNS, opts.unknown_ids, account, "item",
                              missing=tuple(math.nan if c == "price" else "" for c in ITEM_COLUMNS))

    if opts.unknown_ids == "drop":   # first, so the k-core counts only reviews that stay
      rows = join(rows)
    rows, rounds = k_core(rows, opts.k_core, account)
    if opts.unknown_ids == "oov":    # after, so the k-core counts real items, not all unknown ones as one <oov>
      rows = join(rows)
    if opts.k_core:
      report.notes["k_core"] = {"k": opts.k_core, "rounds": rounds}
    if items is not None:
      rows["price"] = rows["price"].astype(np.float32)
    return {"full": rows}


class AmazonReviews(TableBuilder):
  """The TFDS builder `amazon_reviews`: McAuley-lab Amazon reviews and metadata, JSON lines, 2014/2018/2023 releases."""
  FORMAT = AmazonReviewsFormat()


DATASET = RealDataset(AmazonReviews)
