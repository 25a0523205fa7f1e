"""The SASRec data format (kang205/SASRec `data/*.txt`, also read by the BERT4Rec and CL4SRec code): one `user item`
pair of integer ids per line, whitespace-separated, each user's lines in chronological order. There is no time
column: the line order is the time, so timestamp and order are both the line number.
`data.path` is the .txt file, or a directory holding one (`data.options.file` names it when there are several).
Options: `file`, `name` (what `download` fetches: ml-1m, Beauty, Steam, Video), and `duplicates` (`drop` | `keep`,
formats/duplicates.py; see below).
Columns: user_id, item_id, timestamp, order. Stored split: `full`.

Ids are canonical non-negative integers (`007` is `7`); a line whose id is not one is malformed ("non-numeric id",
"negative id", "id out of range": beyond int64), as is one without exactly two fields ("wrong column count").

Duplicates: a row's time is its line number, so no two rows are exact duplicates (formats/duplicates.py: equal in
every column but `order`), and `duplicates=drop` drops none. A line repeating the line before it (same user and
item) is not provably a duplicate either: with no timestamp it may be a repeat interaction (re-watching,
re-buying, a second review), and SASRec's own preprocessing keeps such lines. They are kept under either policy and
counted in the report's notes as `consecutive_repeats`.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np

from rec_jax.data.formats import duplicates
from rec_jax.data.formats.lines import locate_txt, own_directory, read_lines
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import BadValue, integer_id
from rec_jax.errors import UserError

URL = "https://raw.githubusercontent.com/kang205/SASRec/master/data/{name}.txt"


@dataclasses.dataclass(frozen=True)
class Options:
  file: str = ""
  name: str = ""
  duplicates: str = "drop"


def parse_options(options: dict) -> Options:
  opts = format_options("sequence_txt", options, Options)
  duplicates.check_policy(opts.duplicates)
  return opts


def read_pairs(path: str, report: FileReport) -> Dict[str, np.ndarray]:
  users, items, lines = [], [], []
  for number, text in read_lines(path, report, "utf-8"):
    fields = text.split()
    if len(fields) != 2:
      report.bad(number, "wrong column count", f"{len(fields)} columns, expected 2 (user item)")
      continue
    try:
      user, item = integer_id(fields[0], "user"), integer_id(fields[1], "item")
    except BadValue as e:
      report.bad(number, e.reason, e.detail)
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

  def download_urls(self, options: dict) -> List[str]:
    opts = parse_options(options)
    if not opts.name:
      raise UserError("sequence_txt downloads SASRec's data/<name>.txt: set data.options.name (e.g. ml-1m, "
                      "Beauty, Steam, Video) or data.path")
    return [URL.format(name=opts.name)]

  def download(self, dl_manager, options: dict) -> str:
    opts = parse_options(options)
    url, = self.download_urls(options)
    downloaded = str(dl_manager.download(url))
    return own_directory(downloaded, f"sasrec_{opts.name}", opts.name)

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    opts = parse_options(options)
    path = files["sequences"]
    rows = read_pairs(path, report.file("sequences", path, "one `user item` pair of integer ids per line"))
    account = report.split("full", path)
    account.rows_read = len(rows["user_id"])
    rows = duplicates.apply(rows, opts.duplicates, account, report, "full")   # none: the time is the line
    report.notes["consecutive_repeats"] = duplicates.consecutive_repeats(rows["user_id"], rows["item_id"])
    return {"full": rows}


class SequenceTxt(TableBuilder):
  """The TFDS builder `sequence_txt`: One `user item` pair per line in time order, the SASRec data format."""
  FORMAT = SequenceTxtFormat()


DATASET = RealDataset(SequenceTxt)
