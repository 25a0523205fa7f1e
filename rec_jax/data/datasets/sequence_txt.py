"""The SASRec data format (kang205/SASRec `data/*.txt`, also read by the BERT4Rec and CL4SRec code): one `user item`
pair of integer ids per line, whitespace-separated, each user's lines in chronological order. There is no time
column: the line order is the time, so timestamp and order are both the line number.
`data.path` is the .txt file, or a directory holding one (`data.options.file` names it when there are several).
Options: `file`, and `name` (what `download` fetches: ml-1m, Beauty, Steam, Video).
Columns: user_id, item_id, timestamp, order. Stored split: `full`.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import numpy as np

from rec_jax.data.formats.lines import locate_txt, own_directory, read_lines
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.errors import UserError

URL = "https://raw.githubusercontent.com/kang205/SASRec/master/data/{name}.txt"


@dataclasses.dataclass(frozen=True)
class Options:
  file: str = ""
  name: str = ""


def parse_options(options: dict) -> Options:
  return format_options("sequence_txt", options, Options)


def _id(text: str) -> str:
  """The canonical form of an integer id ('007' and '7' are one id); ValueError when it is not an integer."""
  if not text.lstrip("+-").isdigit():
    raise UserError(text)
  return str(int(text))


def read_pairs(path: str, report: FileReport) -> Dict[str, np.ndarray]:
  users, items, lines = [], [], []
  for number, text in read_lines(path, report, "utf-8"):
    fields = text.split()
    if len(fields) != 2:
      report.bad(number, "wrong column count", f"{len(fields)} columns, expected 2 (user item)")
      continue
    try:
      user, item = _id(fields[0]), _id(fields[1])
    except ValueError:
      report.bad(number, "non-numeric id", f"user {fields[0]!r}, item {fields[1]!r}: ids must be integers")
      continue
    report.keep()
    users.append(user)
    items.append(item)
    lines.append(number)
  line = np.array(lines, dtype=np.int64)
  return {"user_id": np.array(users, dtype=object), "item_id": np.array(items, dtype=object),
          "timestamp": line, "order": line.copy()}


class SequenceTxtFormat:
  name = "sequence_txt"
  homepage = "https://github.com/kang205/SASRec"
  description = "Per-user item sequences, one `user item` line per interaction in time order (SASRec's data files)."
  license = ("The underlying dataset's own terms: MovieLens (ml-1m) the GroupLens research licence; Amazon (Beauty, "
             "Video) research use; Steam research use")

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    return {"sequences": locate_txt(path, parse_options(options).file, "sequence_txt (one `user item` pair per line)")}

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    return {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer"}

  def download(self, dl_manager, options: dict) -> str:
    opts = parse_options(options)
    if not opts.name:
      raise UserError("sequence_txt downloads SASRec's data/<name>.txt: set data.options.name (e.g. ml-1m, "
                       "Beauty, Steam, Video) or data.path")
    downloaded = str(dl_manager.download(URL.format(name=opts.name)))
    return own_directory(downloaded, f"sasrec_{opts.name}", opts.name)

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    parse_options(options)
    rows = read_pairs(files["sequences"], report.file("sequences", files["sequences"]))
    report.split("full").rows_read = len(rows["user_id"])
    return {"full": rows}


class SequenceTxt(TableBuilder):
  """The TFDS builder `sequence_txt`: One `user item` pair per line in time order, the SASRec data format."""
  FORMAT = SequenceTxtFormat()


DATASET = RealDataset(SequenceTxt)
