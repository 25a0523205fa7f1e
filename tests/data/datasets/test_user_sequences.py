"""user_sequences: ICLRec's `user item item ...` files (one line per user), read from tiny hand-checked files and
split leave-one-out, and the SASRec config trained on them."""

import os

import ml_collections
import numpy as np
import pytest

from rec_jax import train
from rec_jax.config.loader import load_config
from rec_jax.data.datasets import DATASETS, load_dataset
from rec_jax.data.formats.source_report import SourceReport
from tests.data.datasets import sequence_files

FMT = DATASETS.get("user_sequences").DATASET.format
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# (raw line, reason), written after user 2's line.
BAD_LINES = ((b"6", "no items"),
             (b"x7 5 6", "non-numeric id"),
             (b"8 4 2.5", "non-numeric id"),
             (b"", "empty line"),
             (b"9 \xff", "bad encoding"),
             (b"002 9 9", "repeated user"))


def write_lines(path, lines):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(b"\n".join(lines) + b"\n")


def write_user_sequences(path, bad_lines=False):
  """sequence_files' users and items, one line per user; returns ({user: [items in order]}, {line: reason})."""
  items = {str(u): [str(sequence_files.item_of(u, k)) for k in range(n)] for u, n in sequence_files.LENGTHS.items()}
  lines, bad = [], {}
  for user, seq in items.items():
    lines.append(" ".join([user] + seq).encode())
    if user == "2" and bad_lines:
      for text, reason in BAD_LINES:
        lines.append(text)
        bad[len(lines)] = reason
  write_lines(path, lines)
  return items, bad


def _parse(path, **options):
  files = FMT.locate(path, options)
  report = SourceReport()
  stored = FMT.parse(files, options, report)
  return stored, report


def _data_cfg(path, tmp_path):
  split = dict(kind="leave_one_out", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
               validation_fraction=0.1)
  return ml_collections.ConfigDict(dict(name="user_sequences", path=str(path), data_dir=str(tmp_path / "tfds"),
                                        options={}, max_bad_fraction=0.5, implicit_threshold=0.0, split=split))


def test_one_row_per_item_with_the_running_index_as_time(tmp_path):
  path = str(tmp_path / "Beauty.txt")
  items, _ = write_user_sequences(path)
  stored, report = _parse(path)
  full = stored["full"]
  assert sorted(stored) == ["full"]
  assert FMT.columns({}, {}) == {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer"}
  assert list(full["user_id"]) == [u for u in items for _ in items[u]]
  assert list(full["item_id"]) == [i for u in items for i in items[u]]
  assert list(full["order"]) == list(range(1, 72)) and list(full["timestamp"]) == list(full["order"])
  out = report.to_json({"full": 71})
  # Lines are users, rows are interactions.
  assert out["files"]["sequences"]["lines_read"] == out["files"]["sequences"]["lines_kept"] == 5
  assert out["splits"]["full"]["rows_read"] == 71 and "rows" in out["notes"]


def test_ids_are_canonical_integers(tmp_path):
  path = str(tmp_path / "x.txt")
  with open(path, "w") as f:
    f.write("007 12\t3\n  8   0012 +4  \n")
  full = _parse(path)[0]["full"]
  assert list(full["user_id"]) == ["7", "7", "8", "8"] and list(full["item_id"]) == ["12", "3", "12", "4"]


def test_every_bad_line_is_reported(tmp_path):
  path = str(tmp_path / "Beauty.txt")
  items, bad = write_user_sequences(path, bad_lines=True)
  stored, report = _parse(path)
  out = report.to_json({"full": len(stored["full"]["user_id"])})
  f = out["files"]["sequences"]
  assert [(e["line"], e["reason"]) for e in f["examples"]] == sorted(bad.items())
  assert all(e["file"] == path for e in f["examples"])
  assert f["dropped"] == {"no items": 1, "non-numeric id": 2, "empty line": 1, "bad encoding": 1, "repeated user": 1}
  assert (f["lines_read"], f["lines_kept"], f["lines_dropped"]) == (11, 5, 6)
  details = {e["line"]: e["detail"] for e in f["examples"]}
  assert details[4] == "'x7' (the user id): ids must be integers"
  assert details[5] == "'2.5' (item 2 of 2): ids must be integers"
  assert details[8] == "user 2 already has line 2: one line per user"
  # Only the kept lines' items are rows, user 2 with its first line's; time runs on over the dropped lines.
  assert out["splits"]["full"]["rows_read"] == 71
  assert list(stored["full"]["item_id"]) == [i for u in items for i in items[u]]
  assert list(stored["full"]["order"]) == list(range(1, 72))


def test_locate_in_a_directory(tmp_path):
  write_user_sequences(str(tmp_path / "d" / "Yelp.txt"))
  assert FMT.locate(str(tmp_path / "d"), {}) == {"sequences": str(tmp_path / "d" / "Yelp.txt")}
  write_user_sequences(str(tmp_path / "d" / "Toys_and_Games.txt"))
  with pytest.raises(ValueError, match="data.options.file"):
    FMT.locate(str(tmp_path / "d"), {})
  assert FMT.locate(str(tmp_path / "d"), {"file": "Yelp.txt"})["sequences"].endswith("Yelp.txt")
  os.makedirs(tmp_path / "empty")
  with pytest.raises(FileNotFoundError, match="user_sequences"):
    FMT.locate(str(tmp_path / "empty"), {})
  with pytest.raises(ValueError, match="user_sequences has no option"):
    FMT.locate(str(tmp_path / "d"), {"files": "Yelp.txt"})


def test_download_needs_a_known_name():
  with pytest.raises(ValueError, match="data.options.name to one of Beauty, Sports_and_Outdoors"):
    FMT.download(None, {})
  with pytest.raises(ValueError, match="not 'beauty'"):
    FMT.download(None, {"name": "beauty"})


def test_leave_one_out_items_per_user(tmp_path):
  path = tmp_path / "Beauty.txt"
  write_lines(str(path), [b"1 1 2 3 4 5", b"2 6 7 8 9 10 4 11", b"3 4 12", b"4", b"5 13 1 2"])
  raw = load_dataset(_data_cfg(path, tmp_path), None)
  train_rows, valid, test = (raw.splits[s] for s in ("train", "validation", "test"))

  def items(split, user):
    return list(split["item_id"][split["user_id"] == user])

  expected = {"1": ([1, 2, 3], [4], [5]), "2": ([6, 7, 8, 9, 10], [4], [11]), "3": ([4, 12], [], []),
              "5": ([13], [1], [2])}
  for user, (t, v, s) in expected.items():
    assert (items(train_rows, user), items(valid, user), items(test, user)) == tuple(
        [str(i) for i in x] for x in (t, v, s)), user
  assert "4" not in set(train_rows["user_id"]) | set(valid["user_id"]) | set(test["user_id"])
  # The test row sees the user's whole past, the validation item last.
  assert list(test["history"][test["user_id"] == "2"][0]) == ["6", "7", "8", "9", "10", "4"]
  assert list(valid["history"][valid["user_id"] == "1"][0]) == ["1", "2", "3"]
  source = raw.source_report
  assert source["files"]["sequences"]["dropped"] == {"no items": 1}
  assert source["splits"]["full"]["rows_read"] == 5 + 7 + 2 + 3


def test_sasrec_config_trains_on_it(tmp_path, tfds_dir):
  """configs/sasrec_format.py with `--config.data.name=user_sequences`: one test query per user."""
  rng = np.random.default_rng(0)
  lines = []
  for user in range(1, 41):
    start = int(rng.integers(1, 31))
    lines.append(" ".join(str(x) for x in [user] + [(start + k) % 30 + 1 for k in range(12)]).encode())
  write_lines(str(tmp_path / "Toy.txt"), lines)
  cfg = load_config(os.path.join(ROOT, "configs", "sasrec_format.py") + ":smoke")
  cfg.data.name = "user_sequences"
  cfg.data.path = str(tmp_path / "Toy.txt")
  cfg.data.data_dir = tfds_dir
  m = train.train_and_evaluate(cfg, str(tmp_path / "run"))["metrics"]
  assert m["num_queries"] == 40 and m["num_candidates"] == 11 and 0 <= m["ndcg@10"] <= m["hit@10"] <= 1
