"""The ICLRec / CoSeRec / S3-Rec data format (salesforce/ICLRec `data/*.txt`): one line per user, `user item item
...` whitespace-separated integer ids, the user's items oldest first. There is no time column: the file order is
the time, so timestamp and order are both the interaction's running index in the file (1, 2, ... over the items
kept), which orders a user's items and means nothing across users. Ids are canonical integers as in sequence_txt
(`007` is `7`).
`data.path` is the .txt file, or a directory holding one (`data.options.file` names it when there are several).
Options: `file`, `name` (what `download` fetches: Beauty, Sports_and_Outdoors, Toys_and_Games, Yelp, ml-1m), and
`duplicates` (`drop` | `keep`, formats/duplicates.py; see below).
Columns: user_id, item_id, timestamp, order. Stored split: `full`.

The report counts lines per file (one line is one user: kept, or dropped whole with its reason) and interactions
per split: `rows_read` of `full` is the items on the kept lines, a line of k items is k rows. A bad line is dropped
whole (a user with a truncated or shifted sequence would change what leave-one-out tests): "no items" (a user and
nothing else), "non-numeric id" (naming the token), and "repeated user": the format has one line per user, so a
second line of a user (ICLRec's loader would read it as another user; appending it to the first would silently
move that user's test and validation items) is a malformed line, dropped and counted against the error budget
(`data.max_bad_fraction`), and the user keeps its first line. A negative id ("negative id") or one beyond int64
("id out of range") drops the line too.

Duplicates: an interaction's time is its position in its user's line, so no two rows are exact duplicates
(formats/duplicates.py: equal in every column but `order`) and `duplicates=drop` drops none. An item repeated at
consecutive positions of a line (`1 5 5 7`) is not provably a duplicate: with no timestamp it may be bought or
watched again, and ICLRec's own files keep such repeats. They are kept under either policy and counted in the
report's notes as `consecutive_repeats`. (A whole line repeated is the "repeated user" above.)
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np

from rec_jax.data.formats import duplicates
from rec_jax.data.formats.format_options import format_options
from rec_jax.data.formats.lines import locate_txt, own_directory, read_lines
from rec_jax.data.formats.real_dataset import RealDataset
from rec_jax.data.formats.source_report import FileReport, SourceReport
from rec_jax.data.formats.table_builder import TableBuilder
from rec_jax.data.formats.values import BadValue, integer_id
from rec_jax.errors import UserError

URL = "https://raw.githubusercontent.com/salesforce/ICLRec/master/data/{name}.txt"
NAMES = ("Beauty", "Sports_and_Outdoors", "Toys_and_Games", "Yelp", "ml-1m")


@dataclasses.dataclass(frozen=True)
class Options:
  file: str = ""
  name: str = ""
  duplicates: str = "drop"


def parse_options(options: dict) -> Options:
  opts = format_options("user_sequences", options, Options)
  duplicates.check_policy(opts.duplicates)
  return opts


def read_sequences(path: str, report: FileReport) -> Dict[str, np.ndarray]:
  """One row per item of each kept line, in file order."""
  users, items, first_line = [], [], {}
  for number, text in read_lines(path, report, "utf-8"):
    fields = text.split()
    if len(fields) < 2:
      report.bad(number, "no items", f"user {fields[0]!r} and no item ids")
      continue
    ids, error = [], None
    for field in fields:
      try:
        ids.append(integer_id(field))
      except BadValue as e:
        error = e
        break
    if error is not None:
      k = len(ids)
      where = "the user id" if k == 0 else f"item {k} of {len(fields) - 1}"
      why = {"negative id": "ids must be non-negative", "id out of range": "beyond a 64-bit integer"}.get(
          error.reason, "ids must be integers")
      report.bad(number, error.reason, f"{fields[k][:40]!r} ({where}): {why}")
      continue
    if ids[0] in first_line:
      report.bad(number, "repeated user", f"user {ids[0]} already has line {first_line[ids[0]]}: one line per user")
      continue
    report.keep()
    first_line[ids[0]] = number
    users.extend(ids[:1] * (len(ids) - 1))
    items.extend(ids[1:])
  index = np.arange(1, len(items) + 1, dtype=np.int64)
  return {"user_id": np.array(users, dtype=object), "item_id": np.array(items, dtype=object),
          "timestamp": index, "order": index.copy()}


class UserSequencesFormat:
  name = "user_sequences"
  homepage = "https://github.com/salesforce/ICLRec"
  description = ("Per-user item sequences, one `user item item ...` line per user in time order (the ICLRec, "
                 "CoSeRec and S3-Rec data files).")
  license = ("The underlying dataset's own terms: Amazon (Beauty, Sports_and_Outdoors, Toys_and_Games) research "
             "use; Yelp the Yelp Dataset terms (non-commercial, academic use); MovieLens (ml-1m) the GroupLens "
             "research licence")

  def locate(self, path: str, options: dict) -> Dict[str, str]:
    return {"sequences": locate_txt(path, parse_options(options).file, "user_sequences (one `user item item ...` line per user)")}

  def columns(self, files: Dict[str, str], options: dict) -> Dict[str, str]:
    return {"user_id": "id", "item_id": "id", "timestamp": "integer", "order": "integer"}

  def download_urls(self, options: dict) -> List[str]:
    opts = parse_options(options)
    if opts.name not in NAMES:
      raise UserError(f"user_sequences downloads ICLRec's data/<name>.txt: set data.options.name to one of "
                      f"{', '.join(NAMES)} (not {opts.name!r}), or set data.path")
    return [URL.format(name=opts.name)]

  def download(self, dl_manager, options: dict) -> str:
    opts = parse_options(options)
    url, = self.download_urls(options)
    downloaded = str(dl_manager.download(url))
    return own_directory(downloaded, f"iclrec_{opts.name}", opts.name)

  def parse(self, files: Dict[str, str], options: dict, report: SourceReport):
    opts = parse_options(options)
    path = files["sequences"]
    rows = read_sequences(path, report.file("sequences", path, "one `user item item ...` line of integer ids per "
                                                               "user, whitespace-separated"))
    account = report.split("full", path)
    account.rows_read = len(rows["user_id"])
    rows = duplicates.apply(rows, opts.duplicates, account, report, "full")   # none: the time is the position
    report.notes["rows"] = "one per interaction: a kept line (one user) of k items is k rows"
    report.notes["consecutive_repeats"] = duplicates.consecutive_repeats(rows["user_id"], rows["item_id"])
    return {"full": rows}


class UserSequences(TableBuilder):
  """The TFDS builder `user_sequences`: one `user item item ...` line per user, ICLRec's data format."""
  FORMAT = UserSequencesFormat()


DATASET = RealDataset(UserSequences)
