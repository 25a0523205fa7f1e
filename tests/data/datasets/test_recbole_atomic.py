"""recbole_atomic: RecBole's atomic files and UniSRec's sequence form, read from tiny hand-checked files."""

import math
import os

import ml_collections
import numpy as np
import pytest

from rec_jax.data.datasets import DATASETS, load_dataset
from rec_jax.data.formats import atomic_header
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.vocab import OOV_TOKEN
from tests.data.datasets import recbole_files

FMT = DATASETS.get("recbole_atomic").DATASET.format


def _parse(path, **options):
  files = FMT.locate(path, options)
  report = SourceReport()
  stored = FMT.parse(files, options, report)
  assert all(set(cols) == set(FMT.columns(files, options)) for cols in stored.values())
  return files, stored, report


def _data_cfg(path, tmp_path, kind, **options):
  split = dict(kind=kind, ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
               validation_fraction=0.1)
  return ml_collections.ConfigDict(dict(name="recbole_atomic", path=path, data_dir=str(tmp_path / "tfds"),
                                        options=options, max_bad_fraction=0.5, implicit_threshold=0.0, split=split))


def test_header_of_every_type():
  header = atomic_header.parse_header("user_id:token\ttags:token_seq\trating:float\temb:float_seq", "x.inter")
  assert header == [("user_id", "token"), ("tags", "token_seq"), ("rating", "float"), ("emb", "float_seq")]
  # A BOM and spaces around a column do not make a new field name.
  assert atomic_header.parse_header("\ufeffitem_id:token \t text:token_seq", "x.item")[0] == ("item_id", "token")


@pytest.mark.parametrize("header, words", [("user_id\titem_id:token", ["x.inter", "'user_id'", "field:type"]),
                                           ("user_id:token\tprice:money", ["x.inter", "'price'", "'money'"]),
                                           ("user_id:token\tuser_id:token", ["x.inter", "'user_id'", "twice"])])
def test_malformed_header_names_file_and_field(header, words):
  with pytest.raises(ValueError) as e:
    atomic_header.parse_header(header, "x.inter")
  assert all(w in str(e.value) for w in words), str(e.value)


def test_plain_inter_with_item_and_user_files(tmp_path):
  path = recbole_files.write_plain(str(tmp_path))
  files, stored, report = _parse(path)
  assert sorted(files) == ["inter", "item", "user"]
  assert FMT.columns(files, {}) == {
      "user_id": "id", "item_id": "id", "rating": "number", "timestamp": "integer", "order": "integer",
      "title": "text", "category": "category", "price": "number", "item_rating": "number",  # .item's `rating`
      "age": "number", "gender": "category"}
  full = stored["full"]
  # u3's item i9 is in no item file, u9 in no user file: both rows dropped (the default policy).
  assert list(full["user_id"]) == ["u1", "u1", "u2", "u2"] and list(full["item_id"]) == ["i1", "i2", "i1", "i3"]
  np.testing.assert_allclose(full["rating"], [4.0, 3.5, 5.0, 1.0])
  assert list(full["timestamp"]) == [100, 101, 200, 150] and list(full["order"]) == [2, 3, 4, 5]
  assert list(full["title"]) == ["The Cat", "Dog", "The Cat", "Bird Song"]   # token_seq: tokens joined by " "
  assert list(full["category"]) == ["books", "toys", "books", "music"]
  np.testing.assert_allclose(full["price"], [9.5, np.nan, 9.5, 12.0])           # an empty float is missing
  np.testing.assert_allclose(full["item_rating"], [4.5, 3.0, 4.5, 2.0])
  np.testing.assert_allclose(full["age"], [25, 25, 31, 31])
  assert list(full["gender"]) == ["F", "F", "M", "M"]
  out = report.to_json({"full": 4})
  assert out["splits"]["full"] == {"rows_read": 6, "rows_kept": 4, "rows_dropped": 2, "replaced_by_oov": {},
                                   "dropped": {"unknown_item": 1, "unknown_user": 1}}
  assert out["notes"]["skipped_fields"] == {"item": ["emb:float_seq"]}
  assert out["notes"]["unread_inter_fields"] == ["review:token_seq"]


def test_unknown_ids_oov_keeps_rows(tmp_path):
  _, stored, report = _parse(recbole_files.write_plain(str(tmp_path)), unknown_ids="oov")
  full = stored["full"]
  assert list(full["user_id"]) == ["u1", "u1", "u2", "u2", "u3", OOV_TOKEN]
  assert list(full["item_id"]) == ["i1", "i2", "i1", "i3", OOV_TOKEN, "i2"]
  # The replaced ids' side features are missing: "" for tokens, NaN for floats (imputed by governance).
  assert full["title"][4] == "" and math.isnan(full["price"][4]) and full["title"][5] == "Dog"
  assert full["gender"][5] == "" and math.isnan(full["age"][5]) and full["age"].dtype == np.float32
  out = report.to_json({"full": 6})["splits"]["full"]
  assert out["rows_kept"] == 6 and out["dropped"] == {}
  assert out["replaced_by_oov"] == {"unknown_item": 1, "unknown_user": 1}


def test_every_bad_line_is_reported(tmp_path):
  _, stored, report = _parse(recbole_files.write_plain(str(tmp_path), bad_lines=True))
  assert len(stored["full"]["user_id"]) == 4
  files = report.to_json({"full": 4})["files"]
  inter, item = files["inter"], files["item"]
  first_bad = 2 + len(recbole_files.INTERACTIONS)
  expected = [(first_bad + k, reason) for k, (_, reason) in enumerate(recbole_files.BAD_INTER)]
  assert [(e["line"], e["reason"]) for e in inter["examples"]] == expected
  assert all(e["file"].endswith("toy.inter") for e in inter["examples"])
  assert inter["examples"][2]["detail"] == "rating 'high'" and inter["examples"][4]["detail"] == "timestamp 'soon'"
  assert (inter["lines_read"], inter["lines_kept"], inter["lines_dropped"]) == (12, 6, 6)
  assert inter["dropped"] == {"wrong column count": 1, "missing id": 1, "non-numeric value": 2, "empty line": 1,
                              "bad encoding": 1}
  assert [(e["line"], e["reason"], e["detail"]) for e in item["examples"]] == [
      (5, "non-numeric value", "price 'cheap'"), (6, "duplicate id", "i1")]
  for f in files.values():
    assert f["lines_read"] == f["lines_kept"] + f["lines_dropped"]


def test_unisrec_sequence_form_with_text(tmp_path):
  files, stored, report = _parse(recbole_files.write_unisrec(str(tmp_path)))
  assert sorted(files) == ["test", "text", "train", "valid"]
  assert FMT.columns(files, {}) == {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer",
                                    "history": "id_list", "text": "text"}
  assert sorted(stored) == ["test", "train", "validation"]
  train = stored["train"]
  assert list(train["history"]) == [["10"], ["10", "11"], ["20"], []]
  assert list(train["item_id"]) == ["11", "12", "21", "30"]
  assert list(stored["validation"]["history"]) == [["10", "11", "12"], ["20", "21"]]
  assert list(stored["test"]["history"]) == [["10", "11", "12", "13"], ["20", "21", "22"]]
  assert list(stored["test"]["text"]) == ["Gloves", "Paper"] and train["text"][0] == "Blue hat"
  # No time field: timestamp is the order, which runs on across the files (each has a header line).
  assert list(train["order"]) == [2, 3, 4, 5] and list(stored["validation"]["order"]) == [7, 8]
  # No time field: a row's time is its position in the user's sequence (its history's length).
  assert list(stored["test"]["timestamp"]) == [4, 3] and list(train["timestamp"]) == [1, 2, 1, 0]
  splits = report.to_json({"train": 4, "validation": 2, "test": 2})["splits"]
  assert {k: v["rows_read"] for k, v in splits.items()} == {"train": 4, "validation": 2, "test": 2}


def test_unisrec_raw_text_ids_are_translated_by_item2index(tmp_path):
  files, stored, report = _parse(recbole_files.write_unisrec(str(tmp_path), raw_ids=True), unknown_ids="oov")
  assert "item2index" in files
  assert list(stored["test"]["text"]) == ["Gloves", "Paper"] and stored["train"]["text"][0] == "Blue hat"
  assert OOV_TOKEN not in set(stored["train"]["item_id"]) | set(stored["test"]["item_id"])
  out = report.to_json({"train": 4, "validation": 2, "test": 2})
  assert out["notes"]["ids_translated"] == {"text": len(recbole_files.TEXTS)}
  assert out["files"]["item2index"]["lines_kept"] == len(recbole_files.TEXTS) + 1
  assert all(not v["replaced_by_oov"] for v in out["splits"].values())


def test_side_fields_named_like_log_columns_are_prefixed(tmp_path):
  path = str(tmp_path / "names")
  recbole_files.write_file(os.path.join(path, "names.inter"), ["user_id:token\titem_id:token", "u\ti"])
  recbole_files.write_file(os.path.join(path, "names.item"),
                           ["item_id:token\tlabel:float\thistory:token_seq\torder:token", "i\t1\ta b\tx"])
  recbole_files.write_file(os.path.join(path, "names.user"), ["user_id:token\titem_id:token", "u\tj"])
  files = FMT.locate(path, {})
  assert FMT.columns(files, {}) == {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer",
                                    "item_label": "number", "item_history": "text", "item_order": "category",
                                    "user_item_id": "category"}
  full = FMT.parse(files, {}, SourceReport())["full"]
  assert full["item_history"][0] == "a b" and full["user_item_id"][0] == "j" and list(full["timestamp"]) == [2]


def test_locate_by_file_and_dataset_option(tmp_path):
  path = recbole_files.write_unisrec(str(tmp_path))
  assert sorted(FMT.locate(os.path.join(path, "Sci.valid.inter"), {})) == ["test", "text", "train", "valid"]
  plain = recbole_files.write_plain(str(tmp_path / "other"), dataset="toy")
  os.rename(plain, str(tmp_path / "renamed"))
  files = FMT.locate(str(tmp_path / "renamed"), {"dataset": "toy"})
  assert sorted(files) == ["inter", "item", "user"]
  assert sorted(FMT.locate(os.path.join(str(tmp_path / "renamed"), "toy.inter"), {})) == ["inter", "item", "user"]


def test_missing_inter_file_names_file_and_directory(tmp_path):
  path = recbole_files.write_plain(str(tmp_path))
  os.remove(os.path.join(path, "toy.inter"))
  with pytest.raises(FileNotFoundError) as e:
    FMT.locate(path, {})
  assert "'toy.inter'" in str(e.value) and os.path.abspath(path) in str(e.value)
  path = recbole_files.write_unisrec(str(tmp_path))
  os.remove(os.path.join(path, "Sci.test.inter"))
  with pytest.raises(FileNotFoundError, match="Sci.test.inter"):
    FMT.locate(path, {})


def test_malformed_header_in_a_file(tmp_path):
  path = str(tmp_path / "bad")
  recbole_files.write_file(os.path.join(path, "bad.inter"), ["user_id:token\titem_id\trating:float", "1\t2\t3"])
  with pytest.raises(ValueError, match=r"bad\.inter.*'item_id'"):
    FMT.columns(FMT.locate(path, {}), {})
  recbole_files.write_file(os.path.join(path, "bad.inter"), ["user:token\titem_id:token", "1\t2"])
  with pytest.raises(ValueError, match=r"bad\.inter: no field 'user_id' \(data.options.user_field\)"):
    FMT.columns(FMT.locate(path, {}), {})
  assert FMT.columns(FMT.locate(path, {"user_field": "user"}), {"user_field": "user"})["user_id"] == "id"
  with pytest.raises(ValueError, match="no option"):
    FMT.locate(path, {"user": "user"})


def test_predefined_splits_end_to_end_keep_histories(tmp_path):
  path = recbole_files.write_unisrec(str(tmp_path), raw_ids=True)
  raw = load_dataset(_data_cfg(path, tmp_path, "predefined", unknown_ids="oov"), None)
  for split, file_split in (("train", "train"), ("validation", "valid"), ("test", "test")):
    # Rows come in time order (sequence position, then file order), as every split does.
    rows = sorted(recbole_files.SEQUENCES[file_split], key=lambda r: len(r[1].split()))
    cols = raw.splits[split]
    assert list(cols["user_id"]) == [r[0] for r in rows] and list(cols["item_id"]) == [r[2] for r in rows]
    assert [list(h) for h in cols["history"]] == [r[1].split() for r in rows]
    assert list(cols["text"]) == [" ".join(recbole_files.TEXTS[r[2]].split()) for r in rows]
  assert raw.source_report["used_splits"] == ["train", "validation", "test"]


def test_predefined_splits_take_the_cold_item_hold_out_too(tmp_path):
  path = recbole_files.write_unisrec(str(tmp_path), raw_ids=True)
  plain = load_dataset(_data_cfg(path, tmp_path, "predefined", unknown_ids="oov"), None)
  cfg = _data_cfg(path, tmp_path, "predefined", unknown_ids="oov")
  cfg.split.cold_item_fraction = 0.5
  held = load_dataset(cfg, None)
  names = ("train", "validation", "test")
  # The same rows, moved: no held-out item keeps a training row, and each lands wholly in validation or in test.
  assert sum(len(held.splits[s]["item_id"]) for s in names) == sum(len(plain.splits[s]["item_id"]) for s in names)
  items = {s: set(held.splits[s]["item_id"]) for s in names}
  moved = set().union(*(set(plain.splits[s]["item_id"]) for s in names)) - items["train"]
  assert moved - (set(plain.splits["validation"]["item_id"]) | set(plain.splits["test"]["item_id"]))
  assert not (moved & items["validation"] & items["test"])
  assert len(held.splits["train"]["item_id"]) < len(plain.splits["train"]["item_id"])


def test_plain_end_to_end_with_oov_numbers(tmp_path):
  cfg = _data_cfg(recbole_files.write_plain(str(tmp_path), bad_lines=True), tmp_path, "random", unknown_ids="oov")
  raw = load_dataset(cfg, None)
  rows = {k: np.concatenate([raw.splits[s][k] for s in ("train", "validation", "test")]) for k in ("item_id", "price")}
  assert sorted(rows["item_id"]) == sorted(["i1", "i2", "i1", "i3", OOV_TOKEN, "i2"])
  assert np.isnan(rows["price"][rows["item_id"] == OOV_TOKEN]).all()
  assert raw.source_report["files"]["inter"]["lines_dropped"] == 6
