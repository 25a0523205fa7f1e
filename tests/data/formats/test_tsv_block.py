"""The numpy parser of whole chunks of Criteo lines (rec_jax/data/formats/tsv_block.py) and the criteo stream that
uses it: the same rows, line numbers, reasons and counts as reading the file line by line (the reference below is
the stream as it was before chunks: formats/lines.py `read_lines` and criteo.py's per-line `_Block`)."""

import gzip

import numpy as np
import pytest

from rec_jax.data.datasets import criteo
from rec_jax.data.formats import lines as lines_module
from rec_jax.data.formats import tsv_block
from rec_jax.data.formats.lines import read_lines
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.generators.criteo_like import CriteoSpec, write

FMT = criteo.Criteo.FORMAT


def _reference(path, **options):
  """(columns, file report, notes) of the line-by-line reading: every line through read_lines and _Block.add."""
  options = criteo.check_options(options)
  report = FileReport(path)
  block, previous, repeats = criteo._Block(report, options), None, 0
  for number, text in read_lines(path, report):
    if block.add(number, text):
      repeats += text == previous
      previous = text
      if options["max_rows"] and len(block) == options["max_rows"]:
        break
  return block.columns(), report, {"consecutive_repeats": repeats}


def _stream(path, **options):
  """(columns, file report, notes, block sizes, split rows read) of the criteo stream."""
  report = SourceReport()
  blocks = list(FMT.parse(FMT.locate(path, options), options, report)["full"]())
  cols = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]} if blocks else {}
  return cols, report.files["impressions"], report.notes, [len(b["label"]) for b in blocks], \
      report.splits["full"].rows_read


def _assert_same(path, fast_chunks=None, **options):
  """The stream equals the reference; returns the stream's file report. `fast_chunks`: whether some chunk must
  (True) or no chunk may (False) be parsed by numpy."""
  expected, expected_report, expected_notes = _reference(path, **options)
  calls = []
  parse = tsv_block.parse

  def counting(*args):
    calls.append(parse(*args))
    return calls[-1]

  tsv_block.parse = counting
  try:
    cols, report, notes, sizes, rows_read = _stream(path, **options)
  finally:
    tsv_block.parse = parse
  n = len(expected["label"])
  assert rows_read == n == sum(sizes)
  if n:
    assert set(cols) == set(expected)
    for name, values in expected.items():
      np.testing.assert_array_equal(cols[name], values, err_msg=name)
      assert cols[name].dtype == values.dtype, name
  block_rows = options.get("block_rows", criteo.DEFAULTS["block_rows"])
  assert all(size == block_rows for size in sizes[:-1])
  assert report.to_json() == expected_report.to_json()
  assert notes == expected_notes
  if fast_chunks is not None:
    assert any(c is not None for c in calls) == fast_chunks
  return report


@pytest.fixture
def small_chunks(monkeypatch):
  """Chunks of about 20 lines, so that a file of a few hundred has many."""
  monkeypatch.setattr(criteo, "CHUNK_BYTES", 4096)


def _generated(tmp_path, rows=400, seed=0):
  path = str(tmp_path / "train.txt")
  write(CriteoSpec(rows=rows, seed=seed), path)
  with open(path, "rb") as f:
    return path, f.read().decode().splitlines()


def _vary(lines, seed=0):
  """Valid lines written differently: upper-case and short hex, empty fields, negative and zero-padded integers."""
  rng = np.random.default_rng(seed)
  out = []
  for line in lines:
    fields = line.split("\t")
    for k in range(1, 40):
      draw = rng.random()
      if draw < 0.05:
        fields[k] = ""
      elif k <= 13 and fields[k] and draw < 0.15:
        fields[k] = rng.choice(["-", "-0", "00", "0"]) + fields[k]
      elif k > 13 and fields[k] and draw < 0.15:
        fields[k] = fields[k].upper()
      elif k > 13 and fields[k] and draw < 0.25:
        fields[k] = fields[k][int(rng.integers(0, 8)):]    # 1-8 digits
    out.append("\t".join(fields))
  return out


def _save(path, lines, raw=None):
  with open(path, "wb") as f:
    f.write(raw if raw is not None else ("\n".join(lines) + "\n").encode())
  return path


def test_fast_path_equals_line_by_line_on_generated_and_varied_lines(tmp_path, small_chunks):
  path, lines = _generated(tmp_path)
  _assert_same(path, fast_chunks=True, block_rows=64)
  varied = _vary(lines)
  assert any(len(f) < 8 for line in varied for f in line.split("\t")[14:] if f)
  _assert_same(_save(path, varied), fast_chunks=True, block_rows=100)
  _assert_same(_save(path, varied), fast_chunks=True, user_column="C3", item_column="C26")


def test_chunk_values_hand_checked():
  cats = ["FFFFFFFF", "a", "0A", "", "00000000", "7fffffff"] + ["1"] * 20
  text = "\t".join(["1", "-5", "", "123456789012345678", "-0", "007"] + ["1"] * 8 + cats)
  rows = tsv_block.parse((text + "\n" + text).encode(), 13, 26)
  assert rows is not None and len(rows) == 2
  np.testing.assert_array_equal(rows.integers[0, :5], np.array([-5, np.nan, 123456789012345678, 0, 7], np.float32))
  assert rows.categories[0, :6].tolist() == [0xFFFFFFFF, 10, 10, -1, 0, 0x7FFFFFFF]
  assert rows.labels.tolist() == [1, 1] and rows.line((text + "\n").encode(), 0) == text
  assert tsv_block.repeats((text + "\n" + text + "\n").encode(), rows, 2).tolist() == [False, True]


BAD = {
    "wrong column count": lambda f: f[:-1],
    "invalid label": lambda f: ["2"] + f[1:],
    "non-numeric value": lambda f: f[:3] + ["1.5"] + f[4:],
    "value out of range": lambda f: f[:2] + ["9" * 19] + f[3:],
    "invalid category": lambda f: f[:20] + ["xyz"] + f[21:],
}


@pytest.mark.parametrize("line", [
    "nan label", "space label", "plus integer", "long valid integer", "minus only", "nine hex digits", "0x hex",
    "space hex", "empty line", "crlf", "nul", "non-ascii", "bom"])
def test_one_irregular_line_falls_back_to_line_by_line(tmp_path, small_chunks, line):
  path, lines = _generated(tmp_path, rows=200)
  fields = lines[30].split("\t")
  edits = {
      "nan label": lambda: ["nan"] + fields[1:], "space label": lambda: [" 1"] + fields[1:],
      "plus integer": lambda: fields[:1] + ["+5"] + fields[2:],
      "long valid integer": lambda: fields[:1] + ["-" + "1" * 18] + fields[2:],
      "minus only": lambda: fields[:1] + ["-"] + fields[2:],
      "nine hex digits": lambda: fields[:14] + ["123456789"] + fields[15:],
      "0x hex": lambda: fields[:14] + ["0x12"] + fields[15:], "space hex": lambda: fields[:14] + [" 1f"] + fields[15:],
      "empty line": lambda: [], "crlf": lambda: fields[:-1] + [fields[-1] + "\r"],
      "nul": lambda: fields[:14] + ["0\x001"] + fields[15:], "non-ascii": lambda: fields[:14] + ["é"] + fields[15:],
  }
  if line == "bom":
    _save(path, None, b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())
  else:
    lines[30] = "\t".join(edits[line]())
    _save(path, lines)
  report = _assert_same(path, fast_chunks=True, block_rows=50)
  assert report.lines_read == 200 and report.lines_kept >= 199


def test_a_chunk_with_one_malformed_line_of_each_kind(tmp_path, small_chunks):
  path, lines = _generated(tmp_path, rows=300)
  for k, (reason, edit) in enumerate(BAD.items()):
    lines[10 + 3 * k] = "\t".join(edit(lines[10 + 3 * k].split("\t")))
  lines[40] = ""
  _save(path, lines)
  report = _assert_same(path, fast_chunks=True, block_rows=64)
  assert report.dropped == {**{reason: 1 for reason in BAD}, "empty line": 1}
  assert report.lines_read == 300 and report.lines_kept == 294
  details = {e["reason"]: e["detail"] for e in report.examples}
  assert details["invalid category"] == "C7='xyz' is not 1-8 hex digits"
  assert [e["line"] for e in report.examples] == [11, 14, 17, 20, 23, 41]
  for text in (lines[0], lines[10]):
    assert (tsv_block.parse((text + "\n").encode(), 13, 26) is None) == (text == lines[10])


@pytest.mark.parametrize("max_rows", [1, 7, 19, 20, 21, 150, 299, 300, 301])
def test_max_rows_ends_inside_a_chunk(tmp_path, small_chunks, max_rows):
  path, lines = _generated(tmp_path, rows=300)
  lines[25] = "bad"   # a per-line chunk among numpy ones
  _save(path, lines)
  report = _assert_same(path, block_rows=8, max_rows=max_rows)
  assert report.lines_kept == min(max_rows, 299)


def test_gzip_and_a_last_line_without_a_break(tmp_path, small_chunks):
  path, lines = _generated(tmp_path, rows=300)
  _save(path, None, "\n".join(lines).encode())
  _assert_same(path, fast_chunks=True, block_rows=128)
  gz = str(tmp_path / "day_0.gz")
  with gzip.open(gz, "wb") as f:
    f.write(("\n".join(_vary(lines)) + "\n").encode())
  _assert_same(gz, fast_chunks=True, block_rows=128, max_rows=250)


def test_consecutive_repeats_within_and_across_chunks(tmp_path, small_chunks):
  path, lines = _generated(tmp_path, rows=200)
  lines = lines[:50] + [lines[49]] * 30 + lines[50:]   # 30 repeats crossing chunk boundaries
  fields = lines[120].split("\t")
  fields[14] = fields[14].upper() if fields[14].upper() != fields[14] else fields[14].lstrip("0") or "0"
  lines.insert(121, "\t".join(fields))                # the same values written differently: not a repeat
  _save(path, lines)
  _assert_same(path, fast_chunks=True, block_rows=32)
  _, _, notes, _, _ = _stream(path, block_rows=32)
  assert notes["consecutive_repeats"] == 30 + (lines[120] == lines[121])


def test_a_line_over_the_limit_is_dropped_and_reading_goes_on(tmp_path, small_chunks, monkeypatch):
  monkeypatch.setattr(lines_module, "MAX_LINE_BYTES", 3000)
  path, lines = _generated(tmp_path, rows=100)
  lines[20] = lines[20] + "\t1" * 3000
  _save(path, lines)
  report = _assert_same(path, block_rows=32)
  assert report.dropped == {"line too long": 1} and report.lines_read == 100


def test_separators_the_fast_path_takes():
  assert tsv_block.fast_separator("\t") and tsv_block.fast_separator(",") and tsv_block.fast_separator(" ")
  assert not any(tsv_block.fast_separator(s) for s in ("a", "1", "-", "\n", "ab", "é"))


def test_comma_separated_file_reads_the_same(tmp_path, small_chunks):
  path, lines = _generated(tmp_path, rows=100)
  _save(path, [line.replace("\t", ",") for line in lines])
  _assert_same(path, fast_chunks=True, separator=",")
