"""The reliability corpus, streaming part: bad inputs of the streamed Criteo path (`data.streaming`, the default of
configs/criteo_ctr.py), its row stores in the workdir, a kill during a streamed run, the Criteo-like generator's
command line, multi-process environment settings and `parallel.*` values. Each case asserts its exact outcome: one
`error:` line (or UserError message) naming the problem, exact counts in data_report.json with
read = kept + dropped per file and per split, a store rebuilt byte for byte, or a resumed run equal to an
uninterrupted one."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from rec_jax import distributed
from rec_jax.config.loader import load_config
from rec_jax.data.datasets import DATASETS
from rec_jax.data.features import FeatureOptions
from rec_jax.data.generators import criteo_like
from rec_jax.data.prefetch import MAX_PREFETCH, step_batches
from rec_jax.data.prepare import prepare_data
from rec_jax.data.streaming.prepare import STORE_DIR, check_streaming
from rec_jax.errors import UserError
from rec_jax.main import invoke
from tests.reliability import data_files as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = "--config=configs/criteo_ctr.py:smoke"
SPLITS = ("train", "validation", "test")
TIMING = ("wall_time_s", "train_seconds", "eval_seconds", "final_eval_seconds", "train_steps_per_s")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(ROOT)


def _valid(n: int):
  """n distinct valid lines (labels alternate)."""
  return [F.criteo_line(str(k % 2), k=k) for k in range(n)]


def _config(path, tfds_dir, **overrides):
  cfg = load_config(os.path.join(ROOT, "configs", "criteo_ctr.py") + ":smoke")
  cfg.data.path, cfg.data.data_dir = str(path), tfds_dir
  cfg.features.min_count = 1
  for key, value in overrides.items():
    section, name = key.split(".")
    cfg[section][name] = value
  return cfg


def _prepare(cfg, workdir):
  os.makedirs(workdir, exist_ok=True)
  features = FeatureOptions.from_config(cfg.features, where="features")
  return prepare_data(DATASETS.get("criteo").DATASET, cfg.data, features, str(workdir), required_splits=SPLITS)


def _report(workdir) -> dict:
  with open(os.path.join(workdir, "data_report.json")) as f:
    return json.load(f)


def _accounts(report: dict):
  """({role: (lines_read, lines_kept, dropped)}, {split: (rows_read, rows_kept, rows_dropped, dropped)})."""
  files = {role: (f["lines_read"], f["lines_kept"], f["dropped"]) for role, f in report["source"]["files"].items()}
  splits = {name: (s["rows_read"], s["rows_kept"], s["rows_dropped"], s["dropped"])
            for name, s in report["splits"].items()}
  return files, splits


def _check_accounting(report: dict) -> None:
  for f in report["source"]["files"].values():
    assert f["lines_read"] == f["lines_kept"] + sum(f["dropped"].values())
  for s in report["splits"].values():
    assert s["rows_read"] == s["rows_kept"] + s["rows_dropped"] == s["rows_kept"] + sum(s["dropped"].values())


# --- bad files, streamed --------------------------------------------------------------------------------------------

BAD_INTEGERS = ["1_000", "+5", " 5", "5 ", "\u0661\u0662", "--5"]   # int() takes all but the last
DATA_CASES = [
    # (id, lines or raw bytes, overrides, expected: error regex | (files, splits))
    ("comma-delimiter", [F.criteo_line(str(k % 2), k=k, sep=",") for k in range(100)], {},
     r"none of its 100 lines could be read \(wrong column count: 100\); first: line 1 \(wrong column count: 1 "
     r"columns, expected 40\).*likely cause: a wrong delimiter"),
    ("all-malformed", ["0\t1\t2"] * 40, {},
     r"none of its 40 lines could be read \(wrong column count: 40\)"),
    ("empty-file", [], {}, r"c\.txt is empty \(0 lines\)"),
    ("only-empty-lines", [""] * 12, {}, r"none of its 12 lines could be read \(empty line: 12\)"),
    ("mixed-over-the-budget", _valid(90) + ["0\t1"] * 10, {},
     r"10 of 100 lines are malformed \(10\.0%\), over the error budget data\.max_bad_fraction=0\.01 \(wrong column "
     r"count: 10\); first: line 91 \(wrong column count: 2 columns, expected 40\)"),
    ("mixed-within-the-budget", _valid(190) + ["0\t1"] * 5 + ["1\tx"] + [F.criteo_line(label="2", k=7)], {
        "data.max_bad_fraction": 0.05},
     ({"impressions": (197, 190, {"wrong column count": 6, "invalid label": 1})},
      {"train": (152, 152, 0, {}), "validation": (19, 19, 0, {}), "test": (19, 19, 0, {})})),
    # What int() accepts and the block parser does not is malformed in the per-line parser too.
    ("integers-int-accepts", _valid(100) + [F.criteo_line(ints=[v] + ["1"] * 12, k=500 + i)
                                            for i, v in enumerate(BAD_INTEGERS)]
     + [F.criteo_line(label=" 1", k=600), F.criteo_line(label="1 ", k=601)], {"data.max_bad_fraction": 0.1},
     ({"impressions": (108, 100, {"non-numeric value": 6, "invalid label": 2})},
      {"train": (80, 80, 0, {}), "validation": (10, 10, 0, {}), "test": (10, 10, 0, {})})),
    # Valid in either parser: a chunk parsed line by line (a \r) keeps them all.
    ("valid-spellings-per-line", [line + "\r" for line in _valid(20)]
     + [F.criteo_line(ints=["-0", "007", "-12"] + [""] * 10, cats=["A", "0a", ""] + ["1"] * 23, k=900)], {},
     ({"impressions": (21, 21, {})},
      {"train": (17, 17, 0, {}), "validation": (2, 2, 0, {}), "test": (2, 2, 0, {})})),
    # Governance drops per split: the C1 id column is empty in every 5th line.
    ("item-id-missing-per-split", [F.criteo_line(str(k % 2), cats=([""] if k % 5 == 0 else [f"{k:x}"])
                                                 + ["1"] * 25, k=k) for k in range(100)],
     {"data.options": dict(max_rows=0, user_column="", item_column="C1", block_rows=128)},
     ({"impressions": (100, 100, {})},
      {"train": (80, 63, 17, {"missing:item_id": 17}), "validation": (10, 9, 1, {"missing:item_id": 1}),
       "test": (10, 8, 2, {"missing:item_id": 2})})),
    ("every-train-row-dropped", [F.criteo_line(str(k % 2), cats=[""] + ["1"] * 25, k=k) for k in range(50)],
     {"data.options": dict(max_rows=0, user_column="", item_column="C1", block_rows=128)},
     r"^data\.streaming: the train split is empty: all 40 of its rows were dropped by governance "
     r"\(missing:item_id: 40\); fix the data or its options \(data\.options, data\.split\)$"),
]


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_files_streamed(case, tmp_path, tfds_dir):
  _, lines, overrides, expected = case
  path = F.write(tmp_path / "c.txt", lines)
  cfg = _config(path, tfds_dir, **overrides)
  workdir = tmp_path / "run"
  if isinstance(expected, str):
    with pytest.raises(UserError) as e:
      _prepare(cfg, workdir)
    assert re.search(expected, str(e.value)), str(e.value)
    assert not (workdir / STORE_DIR).exists()
    return
  data = _prepare(cfg, workdir)
  report = _report(workdir)
  assert _accounts(report) == expected
  _check_accounting(report)
  assert {name: len(data.splits[name].rows) for name in SPLITS} == {s: expected[1][s][1] for s in SPLITS}


def test_a_gzip_cut_short_is_one_error(tmp_path, tfds_dir):
  path = F.truncated_gzip(tmp_path / "c.txt.gz", _valid(200))
  with pytest.raises(UserError, match=r"c\.txt\.gz: the gzip file is truncated .*download it again$"):
    _prepare(_config(path, tfds_dir), tmp_path / "run")


def test_the_per_line_parser_reads_what_the_block_parser_reads(tmp_path, tfds_dir):
  """The same lines parsed at once (a clean chunk) and line by line (a chunk with a \\r): the same stored rows."""
  lines = [F.criteo_line(str(k % 2), ints=[str(k - 5), "", "0042"] + [str(k)] * 10, k=k) for k in range(40)]
  rows = {}
  for name, content in (("block", lines), ("per_line", [line + "\r" for line in lines])):
    data = _prepare(_config(F.write(tmp_path / f"{name}.txt", content), tfds_dir), tmp_path / name)
    assert _accounts(_report(tmp_path / name))[0] == {"impressions": (40, 40, {})}
    taken = data.splits["train"].rows.take(np.arange(32))
    rows[name] = (taken.numeric["I1"].tolist(), taken.categorical["C1"].tolist(), taken.label.tolist())
  assert rows["block"] == rows["per_line"]


# --- the row store in the workdir -----------------------------------------------------------------------------------

def _truncate(store):
  path = os.path.join(store, "train")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 10)


def _flip(store):
  path = os.path.join(store, "train")
  with open(path, "r+b") as f:
    f.seek(100)
    byte = f.read(1)
    f.seek(100)
    f.write(bytes([byte[0] ^ 0xFF]))


def _write(name, text):
  return lambda store: open(os.path.join(store, name), "w").write(text)


def _remove(name):
  return lambda store: os.remove(os.path.join(store, name))


def _store_is_a_file(store):
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.rmtree(store)
  open(store, "w").write("x")


def _killed_mid_preparation(store):
  """What a kill during the transform pass leaves: a half-written `.partial` store and no store."""
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.copytree(store, store + ".partial")
  os.remove(os.path.join(store + ".partial", "manifest.json"))
  shutil.rmtree(store)


STORE_CASES = [
    ("cut-short", _truncate, "train has 41510 bytes, not the 240 rows x 173 bytes of its manifest"),
    ("bit-flipped", _flip, "train does not hold the bytes written (its sha256 differs from its manifest's)"),
    ("row-manifest-damaged", _write("train.json", "{"), "train.json is missing or damaged"),
    ("split-file-deleted", _remove("validation"), "validation cannot be read (No such file or directory)"),
    ("store-manifest-damaged", _write("manifest.json", "{"), None),
    ("store-manifest-deleted", _remove("manifest.json"), None),
    ("store-replaced-by-a-file", _store_is_a_file, None),
    ("killed-mid-preparation", _killed_mid_preparation, None),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[c[0] for c in STORE_CASES])
def test_a_damaged_row_store_is_prepared_again_never_read(case, tmp_path, tfds_dir, caplog):
  _, damage, named = case
  cfg = _config(F.write(tmp_path / "c.txt", _valid(300)), tfds_dir)
  workdir = tmp_path / "run"
  _prepare(cfg, workdir)
  store = str(workdir / STORE_DIR)
  original = {name: open(os.path.join(store, name), "rb").read() for name in SPLITS}
  damage(store)
  with caplog.at_level(logging.WARNING):
    data = _prepare(cfg, workdir)
  assert {name: open(os.path.join(store, name), "rb").read() for name in SPLITS} == original
  assert not os.path.exists(store + ".partial")
  assert len(data.splits["train"].rows) == 240
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "damaged" in r.getMessage()]
  if named:
    assert len(warnings) == 1 and named in warnings[0] and warnings[0].endswith("preparing them again"), warnings
  else:
    assert not warnings


def test_data_changed_under_a_streamed_run_is_refused_by_name(tmp_path, tfds_dir):
  path = F.write(tmp_path / "c.txt", _valid(300))
  workdir = tmp_path / "run"
  _prepare(_config(path, tfds_dir), workdir)
  F.write(path, _valid(299) + [F.criteo_line("1", k=7777)])
  with pytest.raises(UserError, match=r"^the data of the run in \S+ changed since it started \(split '(train|"
                                      r"validation|test)' has the same \d+ rows count but other content; data: "
                                      r"\S+c\.txt\): .* Restore the original data, or use a new --workdir$"):
    _prepare(_config(path, tfds_dir), workdir)


def test_a_lost_processor_is_fitted_again_only_on_the_same_data(tmp_path, tfds_dir):
  path = F.write(tmp_path / "c.txt", _valid(300))
  workdir = tmp_path / "run"
  _prepare(_config(path, tfds_dir), workdir)
  processor = (workdir / "feature_processor.json").read_bytes()
  (workdir / "feature_processor.json").unlink()
  _prepare(_config(path, tfds_dir), workdir)   # the same data: the same processor again
  assert (workdir / "feature_processor.json").read_bytes() == processor
  (workdir / "feature_processor.json").unlink()
  F.write(path, _valid(250))
  with pytest.raises(UserError, match=r"split 'train' now has 200 rows \(it had 240\)"):
    _prepare(_config(path, tfds_dir), workdir)


def test_a_lost_fingerprint_is_recorded_again(tmp_path, tfds_dir):
  path = F.write(tmp_path / "c.txt", _valid(300))
  workdir = tmp_path / "run"
  _prepare(_config(path, tfds_dir), workdir)
  fingerprint = (workdir / "data_fingerprint.json").read_text()
  (workdir / "data_fingerprint.json").unlink()
  _prepare(_config(path, tfds_dir), workdir)
  assert (workdir / "data_fingerprint.json").read_text() == fingerprint


# --- the command line: what streaming cannot do, parallel and prefetch values (all before any work) ---------------

CLI_CASES = [
    ("text", "features.text=('C1',)", "error: data.streaming prepares tabular rows only: features.text=('C1',) "
     "needs the in-memory path (set features.text to () or data.streaming=False)"),
    ("history", "features.history_length=5", "error: data.streaming prepares tabular rows only: "
     "features.history_length=5 needs the in-memory path (set features.history_length to 0 or "
     "data.streaming=False)"),
    ("temporal-split", "data.split.kind=temporal", "error: data.split.kind='temporal' (cold_item_fraction=0.0) "
     "needs every row's columns at once; with data.streaming use kind random or global_temporal without "
     "cold_item_fraction, or set data.streaming=False"),
    ("leave-one-out", "data.split.kind=leave_one_out", "error: data.split.kind='leave_one_out' "
     "(cold_item_fraction=0.0) needs every row's columns at once; with data.streaming use kind random or "
     "global_temporal without cold_item_fraction, or set data.streaming=False"),
    ("prefetch-negative", "data.prefetch=-1", f"error: data.prefetch=-1 must be >= 0 and <= {MAX_PREFETCH}"),
    ("prefetch-huge", "data.prefetch=100000", f"error: data.prefetch=100000 must be >= 0 and <= {MAX_PREFETCH}"),
    ("model-axis-0", "parallel.model_axis=0", "error: parallel.model_axis=0 must be >= 1"),
    ("model-axis-3", "parallel.model_axis=3", "error: parallel.model_axis=3 does not divide the 4 devices of the "
     "mesh (parallel.num_devices)"),
    ("num-devices-0", "parallel.num_devices=0", "error: parallel.num_devices=0 must be >= 1 (or -1)"),
    ("num-devices-9", "parallel.num_devices=9", "error: parallel.num_devices=9 but only 4 devices are visible"),
    ("shard-min-rows", "parallel.shard_min_rows=-1", "error: parallel.shard_min_rows=-1 must be >= 0"),
    ("table-row-multiple", "parallel.table_row_multiple=0", "error: parallel.table_row_multiple=0 must be >= 1"),
    ("sparse-embeddings", "train.sparse_embeddings=bogus", "error: unknown train.sparse_embeddings 'bogus' "
     "Valid: adagrad, lazy_adam, rowwise_adagrad"),
    ("synthetic-shop-name", "data.name=synthetic_shop", "error: data.name='synthetic_shop' needs the data.shop "
     "section of its spec, which this config has not (configs/synthetic.py has it); a real dataset's config keeps "
     "its own data.name"),
    ("batch-not-divisible", "train.batch_size=30", "error: batch size 30 is not divisible by the 4 devices of the "
     "data axis (and 1 processes); per-process batch would be 30"),
    ("missing-file", None, "error: data.path='{path}' does not exist (the criteo files: "
     "https://ailab.criteo.com/ressources/)"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_refused_before_any_work(case, tmp_path, tfds_dir):
  _, override, line = case
  path = str(tmp_path / "nope.txt") if override is None else F.write(tmp_path / "c.txt", _valid(20))
  workdir = tmp_path / "run"
  argv = [SMOKE, f"--workdir={workdir}", f"--config.data.path={path}", f"--config.data.data_dir={tfds_dir}"]
  assert invoke(argv + ([f"--config.{override}"] if override else [])) == (1, line.format(path=path))
  if override is not None:
    assert not workdir.exists()


def test_a_ranking_task_is_refused_by_streaming(tmp_path, tfds_dir):
  cfg = _config(tmp_path / "c.txt", tfds_dir)
  cfg.task = "next_item"
  with pytest.raises(UserError, match=r"^data\.streaming serves pointwise tasks \(ctr, rating\); "
                                      r"task='next_item' ranks a catalogue: set data\.streaming=False$"):
    check_streaming(cfg)


@pytest.mark.parametrize("prefetch", [-1, MAX_PREFETCH + 1, 2.5, True])
def test_prefetch_out_of_range_is_refused_by_the_loader(prefetch):
  with pytest.raises(UserError, match=rf"^data\.prefetch={prefetch!r} must be an integer from 0 to {MAX_PREFETCH}"):
    step_batches(lambda s: s, 0, 10, prefetch)
  assert list(step_batches(lambda s: s, 0, 5, MAX_PREFETCH)) == [0, 1, 2, 3, 4]


# --- a kill -9 during a streamed run --------------------------------------------------------------------------------

def _results(workdir) -> dict:
  with open(os.path.join(workdir, "results.json")) as f:
    return {k: v for k, v in json.load(f).items() if k not in TIMING}


def test_kill_nine_during_streamed_training_resumes_exactly(tmp_path, tfds_dir):
  path = str(tmp_path / "c.txt")
  criteo_like.write(criteo_like.CriteoSpec(rows=1500, seed=1, vocab_sizes=criteo_like.scaled_vocab(30_000)), path)
  args = [SMOKE, f"--config.data.path={path}", f"--config.data.data_dir={tfds_dir}", "--config.features.min_count=2",
          "--config.checkpoint.every_steps=10", "--config.data.prefetch=2",
          # Three id tables and two numbers: what a kill can break is the same, each run compiles much less.
          "--config.features.categorical=('C1','C2','C3')", "--config.features.numeric=('I1','I2')"]
  clean, killed = tmp_path / "clean", tmp_path / "killed"
  with open(tmp_path / "killed.log", "w") as log:
    proc = subprocess.Popen([sys.executable, "-m", "rec_jax.main", f"--workdir={killed}", *args], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
      checkpoint = killed / "checkpoints" / "latest" / "10"
      deadline = time.monotonic() + 240
      while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
      proc.send_signal(signal.SIGKILL)   # after the step-10 checkpoint: in steps 11..20 or their evaluation
    finally:
      proc.wait()
  assert checkpoint.exists() and not (killed / "results.json").exists(), (tmp_path / "killed.log").read_text()[-2000:]
  assert invoke([f"--workdir={killed}", *args]) == (0, "")
  assert invoke([f"--workdir={clean}", *args]) == (0, "")
  assert _results(killed) == _results(clean)
  logs = [[json.loads(line) for line in open(w / "metrics.jsonl")] for w in (clean, killed)]
  assert logs[0] == logs[1] and [m["step"] for m in logs[0]] == [20]
  assert _report(killed) == _report(clean)


# --- the generator's command line -----------------------------------------------------------------------------------

VOCAB = "--total_vocab=30000"
GENERATOR_CASES = [
    ("rows-0", ["--rows=0"], "rows=0 must be an integer >= 1"),
    ("rows-negative", ["--rows=-5"], "rows=-5 must be an integer >= 1"),
    ("rows-text", ["--rows=abc"], "argument --rows: invalid int value: 'abc'"),
    ("rows-fraction", ["--rows=1.5"], "argument --rows: invalid int value: '1.5'"),
    ("rows-underscore", ["--rows=1_0"], "argument --rows: invalid int value: '1_0'"),
    ("rows-missing", [], "the following arguments are required: --rows"),
    ("out-missing", ["--rows=5", "--out="], "out='' must name the file to write (a directory gets train.txt)"),
    ("out-no-directory", ["--rows=5", "--out={d}/nodir/x.txt"], "out={d}/nodir/x.txt: the directory {d}/nodir does "
     "not exist"),
    ("out-unwritable", ["--rows=5", "--out=/sys/x.txt"], "Permission denied: '/sys/x.txt.partial'"),
    ("vocab-count", ["--rows=5", "--vocab_sizes=1,2"], "vocab_sizes has 2 values; expected 26 (one per C1..C26)"),
    ("vocab-text", ["--rows=5", "--vocab_sizes=a,b"], "vocab_sizes='a,b' must be 26 comma-separated integers"),
    ("vocab-underscore", ["--rows=5", "--vocab_sizes=" + ",".join(["1_0"] * 26)],
     "vocab_sizes='" + ",".join(["1_0"] * 26) + "' must be 26 comma-separated integers"),
    ("vocab-zero", ["--rows=5", "--vocab_sizes=" + ",".join(["0"] * 26)],
     "vocab_sizes[0]=0, vocab_sizes[1]=0, vocab_sizes[2]=0 ... must be an integer from 1 to 4294967295"),
    ("vocab-both", ["--rows=5", "--vocab_sizes=" + ",".join(["9"] * 26), VOCAB],
     "give --vocab_sizes or --total_vocab, not both"),
    ("total-vocab-small", ["--rows=5", "--total_vocab=5"], "total_vocab=5 must be an integer >= 16727 (fields of at "
     "most 1000 ids keep their size, the others get at least 1000)"),
    ("ctr", ["--rows=5", "--ctr=2", VOCAB], "ctr=2.0 must be a number > 0 and < 1"),
    ("ctr-nan", ["--rows=5", "--ctr=nan", VOCAB], "ctr=nan must be a number > 0 and < 1"),
    ("zipf", ["--rows=5", "--zipf=0", VOCAB], "zipf=0.0 must be a number > 0 and <= 5 (or 26 of them)"),
    ("seed", ["--rows=5", "--seed=-1", VOCAB], "seed=-1 must be an integer >= 0"),
    ("workers", ["--rows=5", "--workers=0", VOCAB], "workers=0 must be an integer >= 1"),
    ("block-rows", ["--rows=5", "--block_rows=0", VOCAB], "block_rows=0 must be an integer >= 1"),
    ("oracle-no-directory", ["--rows=5", "--oracle={d}/nodir/o.npy", VOCAB],
     "oracle={d}/nodir/o.npy: the directory {d}/nodir does not exist"),
    ("oracle-is-a-directory", ["--rows=5", "--oracle={d}", VOCAB], "oracle={d} is a directory; name the .npy file "
     "to write"),
    # Was a crash (SIGBUS): the oracle's memory map and the text written through one file.
    ("oracle-is-out", ["--rows=5", "--oracle={d}/g.txt", VOCAB], "oracle={d}/g.txt is the file out={d}/g.txt too; "
     "give the oracle its own .npy file"),
    ("unknown-flag", ["--rows=5", "--rowz=3"], "unrecognized arguments: --rowz=3"),
]


@pytest.mark.parametrize("case", GENERATOR_CASES, ids=[c[0] for c in GENERATOR_CASES])
def test_generator_command_line(case, tmp_path):
  _, argv, message = case
  d = str(tmp_path)
  argv = [a.format(d=d) for a in argv]
  if not any(a.startswith("--out") for a in argv):
    argv.append(f"--out={d}/g.txt")
  err, out = io.StringIO(), io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
    code = criteo_like.main(argv)
  assert (code, err.getvalue(), out.getvalue()) == (1, f"error: {message.format(d=d)}\n", "")
  assert os.listdir(d) == []   # nothing written, no .partial left


def test_generator_writes_a_directory_s_train_txt(tmp_path):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert criteo_like.main(["--rows=7", f"--out={tmp_path}", VOCAB]) == 0
  assert out.getvalue().startswith(f"wrote 7 rows to {tmp_path / 'train.txt'} ")
  assert len((tmp_path / "train.txt").read_text().splitlines()) == 7 and os.listdir(tmp_path) == ["train.txt"]


# --- multi-process settings -----------------------------------------------------------------------------------------

A, N, I = distributed.ADDRESS, distributed.NUM_PROCESSES, distributed.PROCESS_ID
ENV_CASES = [
    ("address-only", {A: "127.0.0.1:1234"}, f"{A} set but not {N} and {I}: a multi-process run needs all three"),
    ("count-text", {A: "127.0.0.1:1234", N: "two", I: "0"}, f"{N}='two' is not an integer >= 1"),
    ("count-underscore", {A: "127.0.0.1:1234", N: "1_0", I: "0"}, f"{N}='1_0' is not an integer >= 1"),
    ("count-plus", {A: "127.0.0.1:1234", N: "+2", I: "0"}, f"{N}='+2' is not an integer >= 1"),
    ("id-other-digits", {A: "127.0.0.1:1234", N: "2", I: "\u0661"}, f"{I}='\u0661' is not an integer >= 0"),
    ("id-negative", {A: "127.0.0.1:1234", N: "2", I: "-1"}, f"{I}='-1' is not an integer >= 0"),
    ("id-too-big", {A: "127.0.0.1:1234", N: "2", I: "2"}, f"{I}=2 is not below {N}=2 (process ids are 0 .. 1)"),
    ("no-port", {A: "localhost", N: "2", I: "0"}, f"{A}='localhost' is not host:port"),
    ("port-0", {A: "localhost:0", N: "2", I: "0"}, f"{A}='localhost:0' is not host:port"),
    ("port-too-big", {A: "localhost:70000", N: "2", I: "0"}, f"{A}='localhost:70000' is not host:port"),
    ("devices-alone", {distributed.LOCAL_DEVICE_IDS: "0,1"}, f"{distributed.LOCAL_DEVICE_IDS} is set but this is no "
     "multi-process launch"),
    ("devices-bad", {A: "127.0.0.1:1234", N: "2", I: "0", distributed.LOCAL_DEVICE_IDS: "0,,1"},
     f"{distributed.LOCAL_DEVICE_IDS}='0,,1' is not a comma-separated list of device numbers"),
    ("slurm-id-too-big", {**{name: "1" for name in distributed.SLURM}, "SLURM_NTASKS": "2", "SLURM_PROCID": "2"},
     "SLURM_PROCID=2 is not below SLURM_NTASKS=2"),
]


@pytest.mark.parametrize("case", ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_bad_multi_process_settings(case):
  _, env, message = case
  with pytest.raises(UserError) as e:
    distributed.launch_from_env(env)
  assert str(e.value).startswith(message), str(e.value)


def test_one_process_settings_and_a_spaced_count_are_read():
  assert distributed.launch_from_env({A: "127.0.0.1:1234", N: "1", I: "0"}) is None
  launch = distributed.launch_from_env({A: "[::1]:1234", N: " 2 ", I: "1"})
  assert (launch.coordinator_address, launch.num_processes, launch.process_id) == ("[::1]:1234", 2, 1)


def test_an_unreachable_coordinator_is_one_error_not_an_abort():
  with socket.socket() as s:   # a port nobody listens on
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  launch = distributed.launch_from_env({A: f"127.0.0.1:{port}", N: "2", I: "1"})
  with pytest.raises(UserError, match=rf"^process 1 of 2 could not reach the coordinator at {A}='127\.0\.0\.1:{port}' "
                                      rf"within 0\.3 s \(.*\): start process 0 \({I}=0\) with the same {A}, or fix "
                                      r"the address$"):
    distributed._reach_coordinator(launch, wait_s=0.3)   # pylint: disable=protected-access
  bad_host = distributed.launch_from_env({A: "no-such-host.invalid:1234", N: "2", I: "0"})
  with pytest.raises(UserError, match=rf"^{A}='no-such-host\.invalid:1234': the host 'no-such-host\.invalid' does "
                                      r"not resolve \(.*\); set it to the address of process 0's machine$"):
    distributed._reach_coordinator(bad_host, wait_s=0.3)   # pylint: disable=protected-access
