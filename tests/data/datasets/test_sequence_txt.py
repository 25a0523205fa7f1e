"""sequence_txt: SASRec's `user item` files, read from tiny hand-checked files and split leave-one-out."""

import os

import ml_collections
import pytest

from rec_jax.data.datasets import DATASETS, load_dataset
from rec_jax.data.formats.source_report import SourceReport
from tests.data.datasets import sequence_files

FMT = DATASETS.get("sequence_txt").DATASET.format


def _parse(path, **options):
  files = FMT.locate(path, options)
  report = SourceReport()
  stored = FMT.parse(files, options, report)
  return stored, report


def test_pairs_with_line_numbers_as_time(tmp_path):
  path = str(tmp_path / "ml-1m.txt")
  items, _, _ = sequence_files.write_sequences(path)
  stored, report = _parse(path)
  full = stored["full"]
  assert sorted(stored) == ["full"]
  assert FMT.columns({}, {}) == {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer"}
  assert list(full["user_id"]) == [u for u in items for _ in items[u]]
  assert list(full["item_id"]) == [i for u in items for i in items[u]]
  assert list(full["order"]) == list(range(1, 72)) and list(full["timestamp"]) == list(full["order"])
  assert full["item_id"][0] == str(sequence_files.item_of(1, 0))
  assert report.to_json({"full": 71})["splits"]["full"]["rows_read"] == 71


def test_ids_are_canonical_integers(tmp_path):
  path = str(tmp_path / "x.txt")
  with open(path, "w") as f:
    f.write("007 12\n7\t3\n  8   0012  \n")
  full = _parse(path)[0]["full"]
  assert list(full["user_id"]) == ["7", "7", "8"] and list(full["item_id"]) == ["12", "3", "12"]


def test_every_bad_line_is_reported(tmp_path):
  path = str(tmp_path / "Beauty.txt")
  items, _, bad = sequence_files.write_sequences(path, bad_lines=True)
  stored, report = _parse(path)
  f = report.to_json({"full": len(stored["full"]["user_id"])})["files"]["sequences"]
  assert [(e["line"], e["reason"]) for e in f["examples"]] == sorted(bad.items())
  assert all(e["file"] == path for e in f["examples"])
  assert f["dropped"] == {"wrong column count": 2, "non-numeric id": 2, "empty line": 1, "bad encoding": 1}
  assert (f["lines_read"], f["lines_kept"], f["lines_dropped"]) == (77, 71, 6)
  assert f["lines_read"] == f["lines_kept"] + f["lines_dropped"]
  assert "ids must be integers" in f["examples"][2]["detail"]
  # Lines after the bad ones keep their own line numbers as time.
  assert stored["full"]["order"][-1] == 77 and list(stored["full"]["item_id"]) == [i for u in items for i in items[u]]


def test_locate_in_a_directory(tmp_path):
  sequence_files.write_sequences(str(tmp_path / "d" / "Steam.txt"))
  assert FMT.locate(str(tmp_path / "d"), {}) == {"sequences": str(tmp_path / "d" / "Steam.txt")}
  sequence_files.write_sequences(str(tmp_path / "d" / "Video.txt"))
  with pytest.raises(ValueError, match="data.options.file"):
    FMT.locate(str(tmp_path / "d"), {})
  assert FMT.locate(str(tmp_path / "d"), {"file": "Video.txt"})["sequences"].endswith("Video.txt")
  os.makedirs(tmp_path / "empty")
  with pytest.raises(FileNotFoundError, match="empty"):
    FMT.locate(str(tmp_path / "empty"), {})
  with pytest.raises(ValueError, match="no option"):
    FMT.locate(str(tmp_path / "d"), {"files": "Video.txt"})


def test_download_needs_a_name():
  with pytest.raises(ValueError, match="data.options.name"):
    FMT.download(None, {})


def test_leave_one_out_end_to_end(tmp_path):
  path = str(tmp_path / "ml-1m.txt")
  items, numbers, _ = sequence_files.write_sequences(path, bad_lines=True)
  split = dict(kind="leave_one_out", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
               validation_fraction=0.1)
  cfg = ml_collections.ConfigDict(dict(name="sequence_txt", path=path, data_dir=str(tmp_path / "tfds"), options={},
                                       max_bad_fraction=0.5, implicit_threshold=0.0, split=split))
  raw = load_dataset(cfg, None)
  train, valid, test = (raw.splits[s] for s in ("train", "validation", "test"))
  long_enough = sorted(u for u in items if len(items[u]) >= 3)
  assert sorted(test["user_id"]) == long_enough and sorted(valid["user_id"]) == long_enough
  for u in items:
    in_train = list(train["order"][train["user_id"] == u])
    if len(items[u]) < 3:
      assert in_train == numbers[u]
      continue
    assert in_train == numbers[u][:-2]
    assert list(valid["order"][valid["user_id"] == u]) == [numbers[u][-2]]
    assert list(test["order"][test["user_id"] == u]) == [numbers[u][-1]]
    assert list(test["item_id"][test["user_id"] == u]) == [items[u][-1]]
    # The test row sees the user's whole past, the validation item last; at most the last 50 items.
    assert list(test["history"][test["user_id"] == u][0]) == items[u][:-1][-50:]
    assert list(valid["history"][valid["user_id"] == u][0]) == items[u][:-2][-50:]
  assert len(test["history"][test["user_id"] == "1"][0]) == 50
  assert raw.source_report["files"]["sequences"]["lines_dropped"] == 6
