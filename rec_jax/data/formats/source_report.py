"""What reading a dataset's official files did: per file, lines read, kept and dropped per reason, with the first
bad lines named by file, line number and reason; per stored split (`full`, or a predefined split such as ml-100k's
`u1_base`), the interaction rows dropped by policy (unknown ids, k-core, duplicates). It is the `source` section
of `data_report.json`.

Every line read is kept or dropped for exactly one reason: `lines_read == lines_kept + lines_dropped` per file, and
`rows_read == rows_kept + rows_dropped` per split. Malformed lines count against the error budget
(`data.max_bad_fraction`); policy drops do not, they are declared choices.

The budget is checked where a dataset is built (formats/table_builder.py, before TFDS writes anything, or at the end
of a streamed file) and again where a stored one is read (its budget may differ from the one it was built with):
`budget_problem` is the one message of both. A file with no line at all (or only its header), or none of whose
lines could be read, is named as such, with the likely cause; a file whose first `ABORT_AFTER` lines are all
malformed stops reading there (a wrong delimiter in a 45M-line file fails in seconds, not minutes).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from rec_jax.errors import UserError

# Examples kept per reason and file: enough to find the problem, bounded for a file with millions of bad lines.
EXAMPLES_PER_REASON = 5
# An example's detail is cut to this many characters (a 10 MB line must not become a 10 MB report or message).
MAX_DETAIL = 160
# Reading stops once this many lines of a file are malformed and none could be read (with a budget below 1).
ABORT_AFTER = 1_000_000
# The likely cause of a file none of whose lines could be read, by its commonest reason.
_CAUSES = {
    "wrong column count": "a wrong delimiter (e.g. commas where tabs are expected) or another format's file",
    "bad encoding": "not text in the expected encoding (UTF-8)",
    "NUL byte": "a binary, compressed or UTF-16 file",
    "line too long": "no line breaks (a binary file, or old-Mac \\r line endings)",
    "broken json": "not JSON lines (one object per line)",
    "empty line": "the file holds only empty lines",
    "no items": "a wrong delimiter (ids are whitespace-separated) or another format's file",
}


def _cut(text: str) -> str:
  return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + f"... ({len(text)} characters)"


@dataclasses.dataclass
class FileReport:
  """Line accounting of one file. `dropped` counts malformed lines by reason (a short fixed phrase such as
  "wrong column count"); `examples` names the first lines of each reason with the detail."""
  path: str
  lines_read: int = 0
  lines_kept: int = 0
  dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
  examples: List[dict] = dataclasses.field(default_factory=list)
  # Not stored: whether a header line was read (lines.py), the layout the format expects (for the message of a
  # file none of whose lines could be read), the error budget that stops reading early (None: read to the end).
  header: bool = False
  expects: str = ""
  budget: Optional[float] = None

  def read(self, count: int = 1) -> None:
    self.lines_read += count

  def keep(self, count: int = 1) -> None:
    self.lines_kept += count

  def bad(self, line: int, reason: str, detail: str = "") -> None:
    count = self.dropped.get(reason, 0)
    self.dropped[reason] = count + 1
    if count < EXAMPLES_PER_REASON:
      self.examples.append({"file": self.path, "line": line, "reason": reason, "detail": _cut(detail)})
    if (self.budget is not None and self.budget < 1 and not self.lines_kept
        and self.lines_dropped >= ABORT_AFTER):
      raise UserError(budget_problem(self.to_json(), self.budget, self.header, self.expects, stopped=True))

  @property
  def lines_dropped(self) -> int:
    return sum(self.dropped.values())

  def to_json(self) -> dict:
    assert self.lines_read == self.lines_kept + self.lines_dropped, (self.path, self.lines_read, self.lines_kept,
                                                                     self.dropped)
    return {"path": self.path, "lines_read": self.lines_read, "lines_kept": self.lines_kept,
            "lines_dropped": self.lines_dropped, "dropped": dict(self.dropped), "examples": list(self.examples)}


@dataclasses.dataclass
class SplitAccount:
  """Interaction rows of one stored split: read (the kept lines of its file(s)), dropped by policy, replaced."""
  rows_read: int = 0
  dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
  replaced: Dict[str, int] = dataclasses.field(default_factory=dict)   # ids replaced by <oov> (side_tables.py)
  path: str = ""   # not stored: the file(s) the split's rows come from, for messages

  def drop(self, reason: str, count: int) -> None:
    self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

  def to_json(self, rows_kept: int) -> dict:
    dropped = {k: int(v) for k, v in sorted(self.dropped.items()) if v}
    out = {"rows_read": int(self.rows_read), "rows_kept": int(rows_kept), "rows_dropped": sum(dropped.values()),
           "dropped": dropped, "replaced_by_oov": {k: int(v) for k, v in self.replaced.items() if v}}
    if out["rows_read"] != out["rows_kept"] + out["rows_dropped"]:
      raise AssertionError(f"row accounting broken: read {out['rows_read']} != kept {out['rows_kept']} + dropped "
                           f"{out['rows_dropped']} {dropped}")
    return out


@dataclasses.dataclass
class SourceReport:
  """All files of one dataset, and per stored split (`full` or a predefined one) its rows' policy drops."""
  files: Dict[str, FileReport] = dataclasses.field(default_factory=dict)
  splits: Dict[str, SplitAccount] = dataclasses.field(default_factory=dict)
  notes: Dict[str, object] = dataclasses.field(default_factory=dict)
  budget: Optional[float] = None   # data.max_bad_fraction, given to every file (None: no early stop)

  def file(self, name: str, path: str, expects: str = "") -> FileReport:
    """The report of file `name`; `expects` describes its layout (e.g. "tab-separated user item rating
    timestamp"), named when none of its lines could be read."""
    if name not in self.files:
      self.files[name] = FileReport(path, expects=expects, budget=self.budget)
    return self.files[name]

  def split(self, name: str, path: str = "") -> SplitAccount:
    account = self.splits.setdefault(name, SplitAccount())
    account.path = account.path or path
    return account

  def to_json(self, rows_kept: Dict[str, int]) -> dict:
    """`rows_kept`: the rows written per split."""
    missing = set(rows_kept) - set(self.splits)
    if missing:
      raise AssertionError(f"splits {sorted(missing)} were written without being accounted for")
    out = {"files": {k: f.to_json() for k, f in self.files.items()},
           "splits": {k: a.to_json(rows_kept.get(k, 0)) for k, a in self.splits.items()}}
    return {**out, **({"notes": self.notes} if self.notes else {})}


def budget_problem(f: dict, max_bad_fraction: Optional[float], header: bool = False, expects: str = "",
                   stopped: bool = False) -> Optional[str]:
  """The one-line message of a file (its `FileReport.to_json()`) that cannot be used: empty, only a header, none of
  its lines readable, or over the error budget `max_bad_fraction` (None: no budget); None when it is fine.
  `stopped`: reading stopped early (ABORT_AFTER)."""
  path, read, dropped = f["path"], f["lines_read"], f["lines_dropped"]
  layout = f"; expected {expects}" if expects else ""
  if not read:
    if header:
      return f"{path} has its header line but no data lines{layout}"
    return f"{path} is empty (0 lines){layout}"
  unreadable = not f["lines_kept"]
  if not unreadable and (max_bad_fraction is None or dropped / read <= max_bad_fraction):
    return None
  worst = sorted(f["dropped"].items(), key=lambda kv: -kv[1])
  reasons = ", ".join(f"{r}: {c}" for r, c in worst)
  examples = sorted(f["examples"], key=lambda e: (-f["dropped"][e["reason"]], e["line"]))[:3 if unreadable else 5]
  lines = "; ".join(f"line {e['line']} ({e['reason']}{': ' + e['detail'] if e['detail'] else ''})"
                    for e in examples)
  if unreadable:
    what = f"none of the first {read} lines" if stopped else f"none of its {read} lines"
    cause = _CAUSES.get(worst[0][0], "the wrong file, or another format's")
    expected = f"Expected {expects}; likely cause: " if expects else "Likely cause: "
    return f"{path}: {what} could be read ({reasons}); first: {lines}. {expected}{cause}."
  return (f"{path}: {dropped} of {read} lines are malformed ({dropped / read:.1%}), over the error budget "
          f"data.max_bad_fraction={max_bad_fraction} ({reasons}); first: {lines}")


def check_error_budget(report: dict, max_bad_fraction: float) -> None:
  """Raises UserError naming the worst lines when a file's malformed share exceeds `max_bad_fraction`, or when a
  file has no line, or none that could be read (`budget_problem`)."""
  for f in report["files"].values():
    problem = budget_problem(f, max_bad_fraction)
    if problem:
      raise UserError(problem)
