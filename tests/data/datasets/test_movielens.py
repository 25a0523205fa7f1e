"""MovieLens files in their official layouts: parsing, side features, folds, bad lines, unknown ids, missing
files, the error budget and the TFDS round trip."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pytest

from rec_jax.data.datasets import load_dataset
from rec_jax.data.datasets.movielens import MovieLensFormat, age_group, split_title
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.vocab import OOV_TOKEN
from tests.data.datasets import movielens_files

FORMAT = MovieLensFormat()


def _parse(root, **options):
  report = SourceReport()
  files = FORMAT.locate(root, options)
  return FORMAT.parse(files, options, report), report, files


def test_title_year_and_age_groups():
  assert split_title("Toy Story (1995)") == ("Toy Story", "1995")
  assert split_title("Untitled") == ("Untitled", "")
  assert [age_group(a) for a in (7, 18, 24, 25, 49, 50, 56, 80)] == ["1", "18", "18", "25", "45", "50", "56", "56"]


def test_100k_columns_side_features_and_folds(tmp_path):
  rows = movielens_files.write_100k(str(tmp_path))
  splits, report, files = _parse(str(tmp_path))
  assert set(splits) == {"full"} | {f"u{k}_{s}" for k in range(1, 6) for s in ("base", "test")}
  full = splits["full"]
  assert len(full["user_id"]) == len(rows) == 600
  u, i, r, t = rows[0]
  assert (full["user_id"][0], full["item_id"][0], full["rating"][0], full["timestamp"][0]) == (str(u), str(i), r, t)
  first = full["user_id"] == "1"
  # u.user line 1: age 17 -> group "1", gender F (1 % 2), occupation engineer, zip "10001" -> "1".
  assert set(full["age"][first]) == {"1"} and set(full["gender"][first]) == {"F"}
  assert set(full["zip_prefix"][first]) == {"1"} and set(full["occupation"][first]) == {"engineer"}
  movie = full["item_id"] == "8"
  assert set(full["title"][movie]) == {"Movie 8 caf\xe9"} and set(full["year"][movie]) == {"1978"}
  assert set(full["genres"][movie]) == {"Comedy|Drama"}     # flags 8 % 19 = 8 (Drama) and 24 % 19 = 5 (Comedy)
  # Folds partition u.data: each fold's test is a fifth, base the rest.
  for k in range(1, 6):
    assert len(splits[f"u{k}_test"]["user_id"]) == 120 and len(splits[f"u{k}_base"]["user_id"]) == 480
  assert report.to_json({s: len(v["user_id"]) for s, v in splits.items()})["files"]["ratings"]["lines_read"] == 600


def test_100k_genre_flags(tmp_path):
  movielens_files.write_100k(str(tmp_path))
  full = _parse(str(tmp_path))[0]["full"]
  for item, genres in zip(full["item_id"], full["genres"]):
    i = int(item)
    expected = [g for k, g in enumerate(movielens_files.GENRES) if k in (i % 19, (3 * i) % 19)]
    assert genres == "|".join(expected)


def test_bad_lines_are_reported_with_file_line_and_reason(tmp_path):
  movielens_files.write_100k(str(tmp_path), bad_lines=True, folds=False)
  splits, report, files = _parse(str(tmp_path))
  f = report.to_json({"full": len(splits["full"]["user_id"])})["files"]["ratings"]
  assert f["lines_read"] == 605 and f["lines_kept"] == 600 and f["lines_dropped"] == 5
  assert f["dropped"] == {"wrong column count": 1, "non-numeric id": 1, "rating out of range": 1, "empty line": 1,
                          "non-numeric value": 1}
  assert [(e["line"], e["reason"]) for e in f["examples"]] == [
      (601, "wrong column count"), (602, "non-numeric id"), (603, "rating out of range"), (604, "empty line"),
      (605, "non-numeric value")]
  assert all(e["file"] == files["ratings"] for e in f["examples"])


@pytest.mark.parametrize("policy", ["drop", "oov"])
def test_ids_missing_from_the_user_and_item_files(tmp_path, policy):
  extra = [(99, 1, 4, 880000001), (2, 77, 3, 880000002), (3, 2, 5, 880000003)]
  movielens_files.write_100k(str(tmp_path), extra_rows=extra, folds=False)
  splits, report, _ = _parse(str(tmp_path), unknown_ids=policy)
  full = splits["full"]
  account = report.to_json({"full": len(full["user_id"])})["splits"]["full"]
  assert account["rows_read"] == 603
  if policy == "drop":
    assert account["dropped"] == {"unknown_user": 1, "unknown_item": 1} and account["rows_kept"] == 601
  else:
    assert account["replaced_by_oov"] == {"unknown_user": 1, "unknown_item": 1} and account["rows_kept"] == 603
    assert (full["user_id"] == OOV_TOKEN).sum() == 1 and (full["item_id"] == OOV_TOKEN).sum() == 1
    assert full["age"][full["user_id"] == OOV_TOKEN][0] == "" and full["title"][full["item_id"] == OOV_TOKEN][0] == ""


def test_1m_layout(tmp_path):
  rows = movielens_files.write_1m(str(tmp_path))
  full = _parse(str(tmp_path))[0]["full"]
  assert len(full["user_id"]) == len(rows)
  movie = full["item_id"] == "3"
  assert set(full["title"][movie]) == {"Film 3 \xe0 la carte"} and set(full["year"][movie]) == {"1983"}
  assert set(full["genres"][movie]) == {"Children's|Fantasy"}   # GENRES[1 + 3 % 18], GENRES[1 + 8 % 18]
  user = full["user_id"] == "9"
  assert set(full["age"][user]) == {"25"} and set(full["occupation"][user]) == {"9"}
  assert set(full["zip_prefix"][user]) == {"0"}


def test_csv_release_with_half_stars_and_tags(tmp_path):
  movielens_files.write_csv(str(tmp_path))
  full = _parse(str(tmp_path))[0]["full"]
  assert "age" not in full and set(np.unique(full["rating"] * 2 % 2)) == {0.0, 1.0}
  movie = full["item_id"] == "7"
  if movie.any():
    assert set(full["tags"][movie]) == {"funny, twist ending"}
  assert set(full["title"][full["item_id"] == "1"]) <= {"Film 1, the sequel"}


def test_a_wrong_csv_header_is_named(tmp_path):
  movielens_files.write_csv(str(tmp_path), tags=False)
  with open(tmp_path / "ratings.csv", "r+") as f:
    body = f.read().split("\n", 1)[1]
    f.seek(0)
    f.write("user,movie,stars,time\n" + body)
  with pytest.raises(ValueError, match="ratings.csv: header 'user,movie,stars,time'"):
    _parse(str(tmp_path))


def test_missing_files_name_what_is_expected_and_where(tmp_path):
  movielens_files.write_100k(str(tmp_path), folds=False)
  os.remove(tmp_path / "u.user")
  with pytest.raises(FileNotFoundError, match=r"movielens ml-100k: expected 'u.user' in '.*'"):
    FORMAT.locate(str(tmp_path), {})
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match="'u.data' or 'ratings.dat' or 'ratings.csv'"):
    FORMAT.locate(str(empty), {})


def test_a_fold_missing_its_test_file(tmp_path):
  movielens_files.write_100k(str(tmp_path))
  os.remove(tmp_path / "u3.test")
  with pytest.raises(FileNotFoundError, match="fold u3: expected 'u3.test'"):
    FORMAT.locate(str(tmp_path), {})


def _data_cfg(path, data_dir, **split):
  return ml_collections.ConfigDict(dict(
      name="movielens", path=str(path), data_dir=str(data_dir), options=dict(variant="auto", unknown_ids="drop"),
      max_bad_fraction=0.01, implicit_threshold=4.0,
      split={**dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
                    validation_fraction=0.1), **split}))


def test_error_budget_stops_the_run_naming_the_worst_lines(tmp_path):
  movielens_files.write_100k(str(tmp_path / "ml"), bad_lines=True, folds=False, num_users=5, per_user=10)
  with pytest.raises(ValueError, match=r"u.data: 5 of 55 lines are malformed \(9.1%\), over the error budget "
                                       r"data.max_bad_fraction=0.01 .*first: line 601|first: line 51"):
    load_dataset(_data_cfg(tmp_path / "ml", tmp_path / "tfds"))
  cfg = _data_cfg(tmp_path / "ml", tmp_path / "tfds")
  cfg.max_bad_fraction = 0.1
  raw = load_dataset(cfg)
  assert raw.source_report["files"]["ratings"]["lines_dropped"] == 5


def test_through_tfds_labels_splits_and_a_changed_file(tmp_path):
  movielens_files.write_100k(str(tmp_path / "ml"))
  raw = load_dataset(_data_cfg(tmp_path / "ml", tmp_path / "tfds", kind="predefined", fold="u2"))
  train, valid, test = (raw.splits[s] for s in ("train", "validation", "test"))
  assert len(test["user_id"]) == 120 and len(train["user_id"]) + len(valid["user_id"]) == 480
  assert len(valid["user_id"]) == 48
  assert ((train["rating"] >= 4) == (train["label"] == 1)).all()
  assert raw.source_report["used_splits"] == ["u2_base", "u2_test"]
  # Rows come in time order within each split.
  assert (np.diff(test["timestamp"]) >= 0).all()
  # A changed file is a new dataset version, not a stale cache.
  movielens_files.write_100k(str(tmp_path / "ml"), per_user=10)
  again = load_dataset(_data_cfg(tmp_path / "ml", tmp_path / "tfds", kind="predefined", fold="u2"))
  assert len(again.splits["test"]["user_id"]) == 60
  with pytest.raises(ValueError, match="split file.*'u9_base'"):
    load_dataset(_data_cfg(tmp_path / "ml", tmp_path / "tfds", kind="predefined", fold="u9"))


def test_an_unknown_option_is_named(tmp_path):
  movielens_files.write_100k(str(tmp_path), folds=False)
  with pytest.raises(ValueError, match=r"movielens has no option\(s\) \['varaint'\]"):
    FORMAT.locate(str(tmp_path), {"varaint": "1m"})


def test_predefined_without_a_fold_names_the_folds(tmp_path):
  movielens_files.write_100k(str(tmp_path / "ml"))
  with pytest.raises(ValueError, match=r"fold to one of its folds \['u1', 'u2', 'u3', 'u4', 'u5'\]"):
    load_dataset(_data_cfg(tmp_path / "ml", tmp_path / "tfds", kind="predefined"))
