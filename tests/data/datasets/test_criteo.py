"""The criteo format: parsing the official TSV, the line accounting of bad lines, sampling with max_rows, streaming
in blocks through TFDS, and a CTR run of configs/criteo_ctr.py on a tiny file."""

import gzip
import json
import math
import os

import ml_collections
import numpy as np
import pytest

from rec_jax.data.datasets import DATASETS, criteo, load_dataset
from rec_jax.data.datasets.criteo import check_options
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.formats.table_builder import build_and_read, table_config
from rec_jax.data.governance import govern
from tests.data.datasets import criteo_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FMT = DATASETS.get("criteo").DATASET.format


@pytest.fixture
def train_txt(tmp_path):
  valid = criteo_files.write(str(tmp_path))
  return str(tmp_path / "train.txt"), valid


def _parse(path, **options):
  """(blocks, source report) of reading `path` with `options`."""
  report = SourceReport()
  parsed = FMT.parse(FMT.locate(path, options), options, report)
  assert set(parsed) == {"full"} and callable(parsed["full"])
  return list(parsed["full"]()), report


def _concat(blocks):
  return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _hex(text):
  """A categorical field's stored value: its hex number, -1 when empty."""
  return int(text, 16) if text else -1


def test_columns_and_hand_known_values(train_txt):
  path, valid = train_txt
  blocks, _ = _parse(path)
  rows = _concat(blocks)
  columns = FMT.columns({"impressions": path}, {})
  assert set(rows) == set(columns) and len(columns) == 5 + 13 + 26
  assert columns["label"] == "label" and columns["I13"] == "number" and columns["C26"] == "hex"
  assert len(rows["label"]) == len(valid) == 601
  assert rows["label"][0] == 1 and math.isnan(rows["I1"][0]) and rows["I2"][0] == -3 and rows["I3"][0] == 3
  assert rows["C1"][0] == 0x68fd1e64 and rows["C2"][0] == -1 and rows["C26"][0] == 26
  assert rows["I1"].dtype == np.float32 and rows["C1"].dtype == np.int64 and rows["label"].dtype == np.int64
  assert set(rows["user_id"]) == set(rows["item_id"]) == {"0"}
  # timestamp and order are the line number: line 1, then the first valid line after the five bad ones.
  np.testing.assert_array_equal(rows["order"], [v[0] for v in valid])
  np.testing.assert_array_equal(rows["timestamp"], rows["order"])
  assert rows["order"][:2].tolist() == [1, 7]
  np.testing.assert_array_equal(rows["C5"], [_hex(v[3][4]) for v in valid])
  expected_i4 = [float(v[2][3]) if v[2][3] else np.nan for v in valid]
  np.testing.assert_array_equal(rows["I4"], np.array(expected_i4, dtype=np.float32))


def test_bad_lines_are_reported_with_line_numbers(train_txt):
  path, valid = train_txt
  _, report = _parse(path)
  f = report.files["impressions"]
  assert {e["line"]: e["reason"] for e in f.examples} == criteo_files.BAD_LINES
  assert f.dropped == {reason: 1 for reason in criteo_files.BAD_LINES.values()}
  assert f.lines_read == f.lines_kept + f.lines_dropped == len(valid) + 5
  details = {e["reason"]: e["detail"] for e in f.examples}
  assert details["wrong column count"] == "3 columns, expected 40" and "I3" in details["non-numeric value"]
  assert report.splits["full"].rows_read == len(valid)
  out = report.to_json(rows_kept={"full": len(valid)})
  assert out["splits"]["full"]["rows_read"] == len(valid)


def test_max_rows_reads_only_the_first_valid_lines(train_txt):
  path, valid = train_txt
  blocks, report = _parse(path, max_rows=10, block_rows=4)
  rows = _concat(blocks)
  assert [len(b["label"]) for b in blocks] == [4, 4, 2]
  np.testing.assert_array_equal(rows["order"], [v[0] for v in valid[:10]])
  f = report.files["impressions"]
  # Lines 1-15: the known line, the five bad ones, nine more valid ones; nothing after is read.
  assert f.lines_read == 15 and f.lines_kept == 10 and report.splits["full"].rows_read == 10


def test_item_column_and_option_checks(train_txt):
  path, valid = train_txt
  rows = _concat(_parse(path, item_column="C3", user_column="C4")[0])
  np.testing.assert_array_equal(rows["item_id"], [format(v, "08x") if v >= 0 else "" for v in rows["C3"]])
  # The fixture writes 8 lower-case digits: the ids are the fields as written, "" when empty.
  np.testing.assert_array_equal(rows["user_id"], [v[3][3] for v in valid])
  assert rows["user_id"].dtype == object and "" in set(rows["user_id"])
  with pytest.raises(ValueError, match="unknown criteo option"):
    check_options({"max_row": 10})
  with pytest.raises(ValueError, match="not a categorical column"):
    check_options({"item_column": "I1"})
  with pytest.raises(ValueError, match="block_rows"):
    check_options({"block_rows": 0})


def test_locate_directory_file_and_gzip(tmp_path, train_txt):
  path, valid = train_txt
  assert FMT.locate(os.path.dirname(path), {}) == FMT.locate(path, {}) == {"impressions": path}
  with pytest.raises(FileNotFoundError, match="train.txt"):
    FMT.locate(str(tmp_path / "empty"), {})
  day = str(tmp_path / "day_0.gz")
  with open(path, "rb") as src, gzip.open(day, "wb") as dst:
    dst.write(src.read())
  rows = _concat(_parse(day)[0])
  np.testing.assert_array_equal(rows["order"], [v[0] for v in valid])
  assert not hasattr(FMT, "download")   # Criteo's terms are accepted on its site: data.path must be set.


def test_blocks_are_streamed_into_tfds_and_read_back_whole(train_txt, tmp_path):
  path, valid = train_txt
  options = {"block_rows": 64}
  files = FMT.locate(path, options)
  config = table_config("criteo", files, options, FMT.columns(files, options))
  stored, report = build_and_read(criteo.Criteo, config, str(tmp_path / "tfds"), None)
  builder = criteo.Criteo(config=config, data_dir=str(tmp_path / "tfds"), file_format="array_record")
  # One row group per block (64 < the 4096 rows of a group): ceil(601 / 64) = 10 blocks were written one by one.
  assert builder.info.splits["full"].num_examples == 10
  full = stored["full"]
  # TFDS stores row groups in a hashed order; by `order` the rows are the file's valid lines, each once.
  by_line = np.argsort(full["order"])
  np.testing.assert_array_equal(full["order"][by_line], [v[0] for v in valid])
  np.testing.assert_array_equal(full["label"][by_line], [int(v[1]) for v in valid])
  np.testing.assert_array_equal(full["C7"][by_line], [_hex(v[3][6]) for v in valid])
  assert full["C7"].dtype == np.int64
  assert report["splits"]["full"] == {"rows_read": 601, "rows_kept": 601, "rows_dropped": 0, "dropped": {},
                                      "replaced_by_oov": {}}
  assert report["files"]["impressions"]["lines_dropped"] == 5


def _data_cfg(path, data_dir, **options):
  return ml_collections.ConfigDict(dict(
      name="criteo", path=path, data_dir=data_dir, options=options, max_bad_fraction=0.5, implicit_threshold=0.0,
      split=dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0, fold="", folds=(),
                 validation_fraction=0.1)))


def test_load_real_dataset_end_to_end(train_txt, tmp_path):
  path, valid = train_txt
  raw = load_dataset(_data_cfg(path, str(tmp_path / "tfds"), block_rows=100), None)
  sizes = {name: len(cols["label"]) for name, cols in raw.splits.items()}
  assert sizes == {"train": 481, "validation": 60, "test": 60}
  train = raw.splits["train"]
  assert (np.diff(train["order"]) > 0).all()      # each split in file (time) order
  assert sum(int(v[1]) for v in valid) == sum(int(cols["label"].sum()) for cols in raw.splits.values())
  assert raw.source_report["used_splits"] == ["full"]
  lines = {e["line"]: e["reason"] for e in raw.source_report["files"]["impressions"]["examples"]}
  assert lines == criteo_files.BAD_LINES
  assert {r.name: r.kind for r in raw.schema.rules}["C1"] == "hex"
  # Governance: an empty category stays -1, the one "unknown" value, and is counted as imputed.
  clean, report = govern(raw.schema, raw.splits)
  train_c2 = raw.splits["train"]["C2"]
  assert report["splits"]["train"]["imputed"]["C2"] == int((train_c2 == -1).sum()) > 0
  np.testing.assert_array_equal(clean["train"]["C2"], train_c2)
  with pytest.raises(ValueError, match="data.path"):
    load_dataset(_data_cfg("", str(tmp_path / "tfds")), None)


@pytest.mark.parametrize("preset", ["smoke", "smoke,hashed"])
def test_criteo_ctr_smoke_run(train_txt, tmp_path, preset):
  from rec_jax import train
  from rec_jax.config.loader import load_config
  path, _ = train_txt
  cfg = load_config(os.path.join(ROOT, "configs", "criteo_ctr.py") + ":" + preset)
  cfg.data.path = path
  cfg.data.data_dir = str(tmp_path / "tfds")
  workdir = str(tmp_path / "run")
  results = train.train_and_evaluate(cfg, workdir)
  # The fixture's planted signal (C1, I1) is learnable even in 20 steps.
  assert math.isfinite(results["metrics"]["auc"]) and results["metrics"]["auc"] > 0.5
  with open(os.path.join(workdir, "data_report.json")) as f:
    source = json.load(f)["source"]
  lines = {e["line"]: e["reason"] for e in source["files"]["impressions"]["examples"]}
  assert lines == criteo_files.BAD_LINES
  with open(os.path.join(workdir, "feature_processor.json")) as f:
    vocabs = json.load(f)["vocabs"]
  assert (vocabs["C1"] == {"hash_buckets": 1000}) == ("hashed" in preset)
