"""Amazon reviews + metadata (2023 and 2018 releases, plain and gzip): parsing and side features, bad lines, duplicate
reviews, the k-core, unknown items, locating the files, the download layout, the error budget and the TFDS round
trip through load_real_dataset."""

from __future__ import annotations

import math
import os

import ml_collections
import numpy as np
import pytest

from rec_jax.data.datasets import load_dataset
from rec_jax.data.datasets.amazon_reviews import AmazonReviewsFormat, Options, category, price, review_row
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.vocab import OOV_TOKEN
from tests.data.datasets import amazon_files

FORMAT = AmazonReviewsFormat()
SIDE = ("title", "description", "category", "brand", "price")


def _parse(path, **options):
  report = SourceReport()
  files = FORMAT.locate(path, options)
  full = FORMAT.parse(files, options, report)["full"]
  return full, report.to_json({"full": len(full["user_id"])}), files, report


def _side(full, item):
  """The side features of `item`'s rows, which must agree; NaN prices as None."""
  def one(j):
    p = float(full["price"][j])
    return (*(full[c][j] for c in SIDE[:4]), None if math.isnan(p) else round(p, 4))

  rows = {one(j) for j in np.flatnonzero(full["item_id"] == item)}
  assert len(rows) == 1, rows
  return rows.pop()


@pytest.mark.parametrize("gz", [True, False])
def test_2023_reviews_and_metadata(tmp_path, gz):
  amazon_files.write_2023(str(tmp_path), gz=gz, bad_lines=False)
  full, report, files, _ = _parse(str(tmp_path))
  assert files["reviews"].endswith("All_Beauty.jsonl" + (".gz" if gz else ""))
  # P9 (no metadata line) is dropped: the 8 other reviews, in file order.
  assert list(full["user_id"]) == ["U1"] * 3 + ["U2"] * 3 + ["U3"] * 2
  assert list(full["item_id"]) == ["P1", "P2", "P3", "P1", "P2", "P4", "P1", "P3"]
  assert list(full["rating"]) == [5, 4, 3, 2, 5, 1, 4, 5]
  # Milliseconds -> seconds, rounded down (U2's P1 is at ...300999 ms).
  assert list(full["timestamp"]) == [1600000000, 1600000100, 1600000200, 1600000300, 1600000400, 1600000500,
                                     1600000600, 1600000700]
  assert list(full["order"]) == [1, 2, 3, 4, 5, 6, 7, 8]
  for item, expected in amazon_files.ITEMS_2023.items():
    assert _side(full, item) == expected
  assert report["splits"]["full"] == {"rows_read": 9, "rows_kept": 8, "rows_dropped": 1,
                                      "dropped": {"unknown_item": 1}, "replaced_by_oov": {}}


@pytest.mark.parametrize("gz", [False, True])
def test_2018_reviews_and_metadata_with_python_literal_lines(tmp_path, gz):
  amazon_files.write_2018(str(tmp_path), gz=gz, bad_lines=False)
  full, report, files, _ = _parse(str(tmp_path))
  # The 5-core reviews file's metadata is meta_<Category>.json.
  assert os.path.basename(files["meta"]) == "meta_Beauty.json" + (".gz" if gz else "")
  assert list(full["user_id"]) == ["R1", "R1", "R2", "R2", "R2"]
  assert list(full["item_id"]) == ["B1", "B2", "B1", "B3", "B4"]
  assert list(full["timestamp"]) == [1400000000, 1400000100, 1400000200, 1400000300, 1400000400]   # seconds
  assert list(full["rating"]) == [5, 3, 4, 2, 1]
  for item, expected in amazon_files.ITEMS_2018.items():
    assert _side(full, item) == expected
  assert report["files"]["meta"]["lines_kept"] == 4 and report["files"]["meta"]["dropped"] == {}


def test_price_and_category_readings():
  assert price("$12.99") == 12.99 and price("$1,299.00") == 1299.0 and price(7) == 7.0
  assert price("$1.00 - $3.00") == 2.0
  for missing in (None, "", "free", "$", float("nan"), True, [3]):
    assert math.isnan(price(missing)), missing
  assert category({"categories": ["A", "B", " "], "main_category": "M"}) == "B"
  assert category({"categories": [], "main_category": "M"}) == "M"
  assert category({"categories": [["A", "B"], ["C"]]}) == "B"
  assert category({"category": [], "main_cat": "Main"}) == "Main" and category({}) == ""


def test_item_key_asin_keeps_the_variants_apart():
  line = {"rating": 4.0, "user_id": "U1", "asin": "A7", "parent_asin": "P7", "timestamp": 1600000000123}
  assert review_row(line, Options()) == ("U1", "P7", 4.0, 1600000000)
  assert review_row(line, Options(item_key="asin")) == ("U1", "A7", 4.0, 1600000000)
  old = {"overall": 5.0, "reviewerID": "R", "asin": "B", "unixReviewTime": 1400000000}
  assert review_row(old, Options()) == ("R", "B", 5.0, 1400000000)   # 2018 lines have only asin


@pytest.mark.parametrize("release", ["2023", "2018"])
def test_bad_lines_are_reported_with_file_line_and_reason(tmp_path, release):
  write = amazon_files.write_2023 if release == "2023" else amazon_files.write_2018
  paths = write(str(tmp_path))
  _, report, _, _ = _parse(str(tmp_path))
  bad = {"reviews": getattr(amazon_files, f"BAD_{release}"), "meta": getattr(amazon_files, f"BAD_META_{release}")}
  for role, expected in bad.items():
    f = report["files"][role]
    assert f["path"] == paths[role]
    assert [(e["line"], e["reason"]) for e in f["examples"]] == expected
    assert all(e["file"] == paths[role] for e in f["examples"])
    assert f["lines_dropped"] == len(expected) and f["lines_read"] == f["lines_kept"] + f["lines_dropped"]
  missing = [e["detail"] for e in report["files"]["reviews"]["examples"] if e["reason"] == "missing field"]
  assert missing == (["parent_asin"] if release == "2023" else ["reviewerID"])
  if release == "2023":
    assert report["files"]["reviews"]["lines_read"] == 16 and report["files"]["reviews"]["lines_kept"] == 10
    assert report["files"]["meta"]["examples"][1]["detail"] == "P1"   # the repeated item


@pytest.mark.parametrize("policy", ["drop", "oov"])
def test_duplicate_reviews_and_items_missing_from_the_metadata(tmp_path, policy):
  amazon_files.write_2023(str(tmp_path))
  full, report, _, _ = _parse(str(tmp_path), unknown_ids=policy)
  account = report["splits"]["full"]
  # 10 valid lines: 9 reviews and line 10 repeating line 2 (same user, item and time).
  assert account["rows_read"] == 10
  assert list(full["order"]).count(10) == 0 and list(full["order"]).count(2) == 1
  if policy == "drop":
    assert account["dropped"] == {"duplicate": 1, "unknown_item": 1} and account["replaced_by_oov"] == {}
    assert OOV_TOKEN not in set(full["item_id"]) and len(full["user_id"]) == 8
  else:
    assert account["dropped"] == {"duplicate": 1} and account["replaced_by_oov"] == {"unknown_item": 1}
    unknown = np.flatnonzero(full["item_id"] == OOV_TOKEN)
    assert len(full["user_id"]) == 9 and list(full["order"][unknown]) == [9]
    assert full["user_id"][unknown[0]] == "U3" and full["rating"][unknown[0]] == 3.0
    assert [full[c][unknown[0]] for c in SIDE[:4]] == ["", "", "", ""] and math.isnan(full["price"][unknown[0]])
  assert account["rows_read"] == account["rows_kept"] + account["rows_dropped"]


def test_k_core_drops_until_stable(tmp_path):
  # k=2. Round 1: u4 has one review. Round 2: without u4, item C has one (u3's). Round 3: u3 is left with one.
  reviews = [("u1", "A", 5.0, 1000), ("u1", "B", 4.0, 2000), ("u2", "A", 3.0, 3000), ("u2", "B", 2.0, 4000),
             ("u3", "A", 5.0, 5000), ("u3", "C", 4.0, 6000), ("u4", "C", 1.0, 7000)]
  amazon_files.write_2023(str(tmp_path), bad_lines=False, meta=False, reviews=reviews)
  full, report, files, raw = _parse(str(tmp_path), k_core=2, require_meta=False)
  assert "meta" not in files and "title" not in full   # no metadata: no item columns
  assert sorted(zip(full["user_id"], full["item_id"])) == [("u1", "A"), ("u1", "B"), ("u2", "A"), ("u2", "B")]
  assert report["splits"]["full"]["dropped"] == {"k_core": 3}
  assert raw.notes["k_core"] == {"k": 2, "rounds": 3}
  assert FORMAT.columns(files, {}) == {"user_id": "id", "item_id": "id", "rating": "number",
                                       "timestamp": "integer", "order": "integer"}
  full, report, _, _ = _parse(str(tmp_path), k_core=0, require_meta=False)
  assert len(full["user_id"]) == 7 and report["splits"]["full"]["dropped"] == {}


def test_missing_metadata_file_names_it_and_where_it_looked(tmp_path):
  amazon_files.write_2023(str(tmp_path), meta=False)
  with pytest.raises(FileNotFoundError) as e:
    FORMAT.locate(str(tmp_path), {})
  assert "meta_All_Beauty.jsonl" in str(e.value) and str(tmp_path) in str(e.value)
  assert "require_meta" in str(e.value)
  assert FORMAT.locate(str(tmp_path), {"require_meta": False}) == {
      "reviews": os.path.join(str(tmp_path), "All_Beauty.jsonl.gz")}


def test_several_reviews_files_need_the_category(tmp_path):
  amazon_files.write_2023(str(tmp_path), category="All_Beauty")
  books = amazon_files.write_2023(str(tmp_path), category="Books", gz=False)
  with pytest.raises(ValueError) as e:
    FORMAT.locate(str(tmp_path), {})
  assert "All_Beauty.jsonl.gz" in str(e.value) and "Books.jsonl" in str(e.value)
  assert "data.options.category" in str(e.value)
  assert FORMAT.locate(str(tmp_path), {"category": "Books"}) == books
  with pytest.raises(FileNotFoundError, match="Toys"):
    FORMAT.locate(str(tmp_path), {"category": "Toys"})
  # data.path naming the reviews file: its metadata is looked for beside it.
  assert FORMAT.locate(books["reviews"], {}) == books
  with pytest.raises(ValueError, match="metadata file"):
    FORMAT.locate(books["meta"], {})


def test_empty_directory_and_bad_options(tmp_path):
  with pytest.raises(FileNotFoundError, match="reviews file"):
    FORMAT.locate(str(tmp_path), {})
  with pytest.raises(ValueError, match="item_key"):
    FORMAT.locate(str(tmp_path), {"item_key": "title"})
  with pytest.raises(ValueError, match="no option"):
    FORMAT.locate(str(tmp_path), {"kcore": 5})
  with pytest.raises(ValueError, match="unknown_ids"):
    FORMAT.locate(str(tmp_path), {"unknown_ids": "keep"})


class _FakeDownloads:
  """Stands in for tfds's DownloadManager: 'downloads' the fixture files, stored under hashed names as tfds does."""

  def __init__(self, root):
    self.download_dir, self.urls = root, None

  def download(self, urls):
    self.urls = urls
    out = {}
    for role, path in amazon_files.write_2023(os.path.join(self.download_dir, "src"), category="x").items():
      out[role] = os.path.join(os.path.dirname(path), f"{role}_3f2a9c.gz")
      os.rename(path, out[role])
    return out


def test_download_links_the_official_names(tmp_path):
  with pytest.raises(ValueError, match="data.options.category"):
    FORMAT.download(_FakeDownloads(str(tmp_path)), {})
  manager = _FakeDownloads(str(tmp_path))
  root = FORMAT.download(manager, {"category": "All_Beauty"})
  base = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_2023/raw"
  assert manager.urls == {"reviews": f"{base}/review_categories/All_Beauty.jsonl.gz",
                          "meta": f"{base}/meta_categories/meta_All_Beauty.jsonl.gz"}
  files = FORMAT.locate(root, {"category": "All_Beauty"})
  assert sorted(os.path.basename(p) for p in files.values()) == ["All_Beauty.jsonl.gz", "meta_All_Beauty.jsonl.gz"]
  assert len(_parse(root)[0]["user_id"]) == 8


def _data_cfg(path, data_dir, max_bad_fraction=0.5, **options):
  return ml_collections.ConfigDict(dict(
      name="amazon_reviews", path=str(path), data_dir=str(data_dir), options=options,
      max_bad_fraction=max_bad_fraction, implicit_threshold=0.0,
      split=dict(kind="leave_one_out", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
                 validation_fraction=0.1)))


def _pairs(cols):
  return sorted(zip(cols["user_id"], cols["item_id"]))


def test_load_real_dataset_end_to_end_and_rebuild_on_a_changed_file(tmp_path):
  paths = amazon_files.write_2023(str(tmp_path / "amazon"))
  cfg = _data_cfg(tmp_path / "amazon", tmp_path / "tfds")
  result = load_dataset(cfg, None)
  splits = result.splits
  # Leave-one-out: each user's latest review is the test row, the one before validation; U3 (2 reviews after P9
  # is dropped) is train only.
  assert _pairs(splits["test"]) == [("U1", "P3"), ("U2", "P4")]
  assert _pairs(splits["validation"]) == [("U1", "P2"), ("U2", "P2")]
  assert _pairs(splits["train"]) == [("U1", "P1"), ("U2", "P1"), ("U3", "P1"), ("U3", "P3")]
  test = splits["test"]
  assert list(test["history"][list(test["user_id"]).index("U1")]) == ["P1", "P2"]
  assert set(test["brand"]) == {"Hairy", ""} and list(test["timestamp"]) == [1600000200, 1600000500]
  files = result.source_report["files"]
  assert files["reviews"]["path"] == paths["reviews"] and files["reviews"]["lines_dropped"] == 6
  assert files["meta"]["dropped"] == {"broken json": 1, "duplicate id": 1, "missing field": 1, "empty line": 1}
  assert result.source_report["splits"]["full"] == {"rows_read": 10, "rows_kept": 8, "rows_dropped": 2,
                                                    "dropped": {"duplicate": 1, "unknown_item": 1},
                                                    "replaced_by_oov": {}}
  # A changed file is a new dataset version, not a stale cache.
  amazon_files.write_2023(str(tmp_path / "amazon"), reviews=amazon_files.REVIEWS_2023 + [
      ("U3", "P2", 4.0, 1600000900000)])
  splits = load_dataset(cfg, None).splits
  assert _pairs(splits["test"]) == [("U1", "P3"), ("U2", "P4"), ("U3", "P2")]


@pytest.mark.parametrize("meta", [True, False])
def test_error_budget_names_the_file_and_first_bad_lines(tmp_path, meta):
  paths = amazon_files.write_2023(str(tmp_path / "amazon"), meta=meta)
  cfg = _data_cfg(tmp_path / "amazon", tmp_path / "tfds", max_bad_fraction=0.0, require_meta=meta)
  with pytest.raises(ValueError) as e:
    load_dataset(cfg, None)
  message = str(e.value)
  assert "over the error budget data.max_bad_fraction=0.0" in message
  if meta:   # the metadata is read first: 4 of its 8 lines are bad
    assert message.startswith(paths["meta"] + ": 4 of 8 lines") and "first: line 5 (broken json" in message
  else:
    assert message.startswith(paths["reviews"] + ": 6 of 16 lines")
    assert "first: line 11 (broken json" in message and "line 12 (missing field: parent_asin)" in message
