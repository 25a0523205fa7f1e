"""The Criteo-shaped click-log generator: its file read by the real criteo loader, determinism (whatever the block
size), heavy-tailed ids, the click rate and a planted signal that is learnable, missing values, the command line and
its errors."""

import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from rec_jax.data.datasets import DATASETS
from rec_jax.data.formats.source_report import SourceReport
from rec_jax.data.generators import criteo_like, tsv_units
from rec_jax.data.generators.criteo_like import CHUNK_ROWS, KAGGLE_VOCAB, CriteoSpec, scaled_vocab, write
from rec_jax.errors import UserError
from rec_jax.evaluation.metrics import auc

FMT = DATASETS.get("criteo").DATASET.format
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HEX8 = re.compile(r"^[0-9a-f]{8}$")


def _columns(path):
  """label (int), I1..I13 and C1..C26 (lists of strings) of a generated file, split by hand."""
  with open(path) as f:
    fields = [line.rstrip("\n").split("\t") for line in f]
  assert {len(r) for r in fields} == {40}
  columns = list(zip(*fields))
  return np.array(columns[0], dtype=int), columns[1:14], columns[14:]


def _digest(path):
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


def test_the_real_criteo_loader_reads_every_line(tmp_path):
  path = str(tmp_path / "train.txt")
  summary = write(CriteoSpec(rows=3000, seed=3), str(tmp_path), oracle_path=str(tmp_path / "oracle.npy"))
  assert summary["path"] == path and summary["rows"] == 3000 and not os.path.exists(path + ".partial")
  report = SourceReport()
  options = {"block_rows": 1000}
  blocks = list(FMT.parse(FMT.locate(path, options), options, report)["full"]())
  rows = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
  f = report.files["impressions"]
  assert f.dropped == {} and f.lines_read == f.lines_kept == 3000 and report.splits["full"].rows_read == 3000
  assert len(FMT.columns({"impressions": path}, {})) == 5 + 13 + 26
  labels, ints, cats = _columns(path)
  np.testing.assert_array_equal(rows["label"], labels)
  assert int(rows["label"].sum()) == summary["clicks"]
  np.testing.assert_array_equal(rows["order"], np.arange(1, 3001))
  for k in range(13):
    expected = np.array([float(v) if v else np.nan for v in ints[k]], dtype=np.float32)
    np.testing.assert_array_equal(rows[f"I{k + 1}"], expected)
  for k in range(26):
    assert rows[f"C{k + 1}"].tolist() == [int(v, 16) if v else -1 for v in cats[k]]
  oracle = np.load(str(tmp_path / "oracle.npy"))
  assert oracle.shape == (3000,) and oracle.dtype == np.float32 and ((oracle > 0) & (oracle < 1)).all()


def test_output_depends_on_the_spec_only(tmp_path):
  rows = 2 * CHUNK_ROWS + 100   # three chunks, the last one short
  spec = CriteoSpec(rows=rows, vocab_sizes=scaled_vocab(1_000_000))
  digests = set()
  for name, block_rows, workers in (("a", CHUNK_ROWS, 1), ("b", 10 * CHUNK_ROWS, 2), ("c", 1, 1)):
    write(spec, str(tmp_path / name), block_rows=block_rows, workers=workers)
    digests.add(_digest(str(tmp_path / name)))
  write(spec, str(tmp_path / "again"))
  assert digests == {_digest(str(tmp_path / "again"))}
  # A shorter file is the first lines of a longer one.
  write(CriteoSpec(rows=1000, vocab_sizes=spec.vocab_sizes), str(tmp_path / "short"))
  with open(tmp_path / "short", "rb") as short, open(tmp_path / "a", "rb") as long:
    head = short.read()
    assert head.count(b"\n") == 1000 and long.read(len(head)) == head
  write(CriteoSpec(rows=1000, seed=1, vocab_sizes=spec.vocab_sizes), str(tmp_path / "other"))
  assert _digest(str(tmp_path / "other")) != _digest(str(tmp_path / "short"))


def test_ids_are_heavy_tailed(tmp_path):
  vocab = (100_000,) + KAGGLE_VOCAB[1:]
  path = str(tmp_path / "t.txt")
  summary = write(CriteoSpec(rows=50_000, vocab_sizes=vocab, categorical_missing=(0.0,) * 26), path)
  _, _, cats = _columns(path)
  _, counts = np.unique(np.array(cats[0]), return_counts=True)
  top_share = counts.max() / 50_000
  assert top_share > 0.03 > 100 / vocab[0]   # the top id: over 3000 times its uniform share
  assert (counts == 1).mean() > 0.5           # most ids seen are seen once
  assert len(counts) < 0.5 * vocab[0]         # and most ids are never seen
  assert summary["distinct_ids"][0] == len(counts)
  # Tiny fields are heavy-tailed too, and every value is an 8-hex-digit id.
  _, small = np.unique(np.array(cats[8]), return_counts=True)   # C9: 3 ids
  assert len(small) == 3 and small.max() > 0.4 * 50_000


@pytest.mark.parametrize("ctr", [0.25, 0.05])
def test_click_rate_is_the_target(tmp_path, ctr):
  summary = write(CriteoSpec(rows=50_000, seed=2, ctr=ctr, vocab_sizes=scaled_vocab(1_000_000)),
                  str(tmp_path / "t.txt"))
  assert abs(summary["ctr"] - ctr) < 0.03


def test_planted_signal_oracle_auc_and_a_simple_learner(tmp_path):
  path, oracle_path = str(tmp_path / "t.txt"), str(tmp_path / "oracle.npy")
  write(CriteoSpec(rows=50_000, seed=5), path, oracle_path=oracle_path)
  labels, _, cats = _columns(path)
  oracle = np.load(oracle_path)
  assert 0.70 < auc(labels, oracle) < 0.85
  # Target encoding: each id's smoothed click log-odds on the first half, summed over fields, scores the second.
  half = len(labels) // 2
  prior = labels[:half].mean()
  score = np.zeros(len(labels) - half)
  for column in cats:
    ids, index = np.unique(np.array(column), return_inverse=True)
    shown = np.bincount(index[:half], minlength=len(ids))
    clicked = np.bincount(index[:half], weights=labels[:half], minlength=len(ids))
    rate = (clicked + 20 * prior) / (shown + 20)
    score += np.log(rate / (1 - rate))[index[half:]]
  learned = auc(labels[half:], score)
  assert 0.6 < learned < auc(labels[half:], oracle[half:])


def test_missing_values_and_value_formats(tmp_path):
  cat_missing = tuple(0.3 if k % 3 == 0 else 0.0 for k in range(26))
  int_missing = tuple(0.5 if k % 2 == 0 else 0.1 for k in range(13))
  path = str(tmp_path / "t.txt")
  write(CriteoSpec(rows=20_000, categorical_missing=cat_missing, integer_missing=int_missing,
                   vocab_sizes=scaled_vocab(1_000_000)), path)
  labels, ints, cats = _columns(path)
  assert set(labels) == {0, 1}
  for k, column in enumerate(cats):
    empty = np.mean([v == "" for v in column])
    assert abs(empty - cat_missing[k]) < 0.02
    assert all(HEX8.match(v) for v in column if v)
  for k, column in enumerate(ints):
    assert abs(np.mean([v == "" for v in column]) - int_missing[k]) < 0.02
    values = np.array([int(v) for v in column if v])
    assert values.min() >= (-3 if k == 1 else 0) and values.max() < 2 ** 31
    assert all(v == str(int(v)) for v in column if v)   # plain decimals: no sign, spaces or leading zeros
  i2 = np.array([int(v) for v in ints[1] if v])
  assert set(i2[i2 < 0]) == {-1, -2, -3}
  assert np.median([int(v) for v in ints[4] if v]) > 500   # I5: Criteo's large counts


def test_integer_text_at_group_boundaries():
  values = np.array([0, 9, 10, 999, 1000, 9999, 10000, 10001, 99999999, 100000000, 123456789, 2 ** 31 - 1, -1,
                     -3, 7], dtype=np.int64)
  missing = np.arange(len(values)) == len(values) - 1
  out = np.empty((tsv_units.integer_groups(values), len(values)), dtype=np.uint32)
  tsv_units.integer_units(values, missing, out)
  text = np.ascontiguousarray(out.T).tobytes().replace(b"\0", b"").decode()
  assert text.split("\t")[1:] == [str(v) for v in values[:-1]] + [""]


def test_hex_values_are_a_bijection_per_field():
  ranks = np.arange(1_000_000)
  first = criteo_like.hex_values(0, ranks)
  assert len(np.unique(first)) == len(ranks)
  assert (first != criteo_like.hex_values(1, ranks)).mean() > 0.99   # salted per field


def test_write_checks_its_arguments(tmp_path):
  with pytest.raises(UserError, match="the directory .* does not exist"):
    write(CriteoSpec(rows=10), str(tmp_path / "no" / "train.txt"))
  with pytest.raises(UserError, match="block_rows=0 must be an integer >= 1"):
    write(CriteoSpec(rows=10), str(tmp_path / "t.txt"), block_rows=0)
  assert not os.listdir(tmp_path)


def test_scaled_vocab():
  for total in (1_000_000, 10_000_000, 30_000_000):
    sizes = scaled_vocab(total)
    assert len(sizes) == 26 and sum(sizes) == total
    for size, kaggle in zip(sizes, KAGGLE_VOCAB):
      assert size == kaggle if kaggle <= 1000 else size >= 1000
    # Large fields keep their proportions.
    assert abs(sizes[2] / sizes[11] - KAGGLE_VOCAB[2] / KAGGLE_VOCAB[11]) < 0.01
  with pytest.raises(UserError, match="total_vocab=100 must be an integer >= 16727"):
    scaled_vocab(100)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rows=0), "rows=0 must be an integer >= 1"),
    (dict(rows=10, vocab_sizes=(10, 20, 30)), r"vocab_sizes has 3 values; expected 26"),
    (dict(rows=10, vocab_sizes=(0,) + KAGGLE_VOCAB[1:]), r"vocab_sizes\[0\]=0 must be an integer from 1"),
    (dict(rows=10, ctr=1.5), "ctr=1.5 must be a number > 0 and < 1"),
    (dict(rows=10, zipf=0), "zipf=0 must be"),
    (dict(rows=10, integer_missing=(0.1,) * 12), "integer_missing has 12 values; expected 13"),
    (dict(rows=10, interactions=((1, 1),)), "interactions="),
])
def test_bad_spec_is_a_user_error(kwargs, message):
  with pytest.raises(UserError, match=message):
    CriteoSpec(**kwargs)


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "rec_jax.data.generators.criteo_like", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)


def test_command_line(tmp_path):
  out = str(tmp_path / "train.txt")
  done = _cli("--rows=1000", f"--out={out}", "--total_vocab=1000000", f"--oracle={tmp_path / 'p.npy'}")
  assert done.returncode == 0, done.stderr
  lines = done.stdout.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"wrote 1,000 rows to {out}") and "ctr" in lines[0]
  with open(out, "rb") as f:
    assert f.read().count(b"\n") == 1000
  assert np.load(str(tmp_path / "p.npy")).shape == (1000,)


@pytest.mark.parametrize("args, message", [
    (["--rows=0"], "error: rows=0 must be an integer >= 1"),
    (["--rows=10", "--vocab_sizes=1,2,3"], "error: vocab_sizes has 3 values; expected 26"),
    (["--rows=ten"], "error: argument --rows: invalid int value: 'ten'"),
    (["--rows=10", "--total_vocab=5"], "error: total_vocab=5 must be an integer >= 16727"),
])
def test_command_line_errors_are_one_line(tmp_path, args, message):
  done = _cli(*args, f"--out={tmp_path / 'x.txt'}")
  assert done.returncode == 1 and done.stdout == ""
  assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(message), done.stderr
  assert not os.listdir(tmp_path)
