"""What reading a dataset's official files did: per file, lines read, kept and dropped per reason, with the first
bad lines named by file, line number and reason; per stored split (`full`, or a predefined split such as ml-100k's
`u1_base`), the interaction rows dropped by policy (unknown ids, k-core, duplicates). It is the `source` section
of `data_report.json`.

Every line read is kept or dropped for exactly one reason: `lines_read == lines_kept + lines_dropped` per file, and
`rows_read == rows_kept + rows_dropped` per split. Malformed lines count against the error budget
(`data.max_bad_fraction`); policy drops do not, they are declared choices.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

from rec_jax.errors import UserError

# Examples kept per reason and file: enough to find the problem, bounded for a file with millions of bad lines.
EXAMPLES_PER_REASON = 5


@dataclasses.dataclass
class FileReport:
  """Line accounting of one file. `dropped` counts malformed lines by reason (a short fixed phrase such as
  "wrong column count"); `examples` names the first lines of each reason with the detail."""
  path: str
  lines_read: int = 0
  lines_kept: int = 0
  dropped: Dict[str, int] = dataclasses.field(default_factory=dict)
  examples: List[dict] = dataclasses.field(default_factory=list)

  def read(self) -> None:
    self.lines_read += 1

  def keep(self) -> None:
    self.lines_kept += 1

  def bad(self, line: int, reason: str, detail: str = "") -> None:
    count = self.dropped.get(reason, 0)
    self.dropped[reason] = count + 1
    if count < EXAMPLES_PER_REASON:
      self.examples.append({"file": self.path, "line": line, "reason": reason, "detail": detail})

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

  def file(self, name: str, path: str) -> FileReport:
    if name not in self.files:
      self.files[name] = FileReport(path)
    return self.files[name]

  def split(self, name: str) -> SplitAccount:
    return self.splits.setdefault(name, SplitAccount())

  def to_json(self, rows_kept: Dict[str, int]) -> dict:
    """`rows_kept`: the rows written per split."""
    missing = set(rows_kept) - set(self.splits)
    if missing:
      raise AssertionError(f"splits {sorted(missing)} were written without being accounted for")
    out = {"files": {k: f.to_json() for k, f in self.files.items()},
           "splits": {k: a.to_json(rows_kept.get(k, 0)) for k, a in self.splits.items()}}
    return {**out, **({"notes": self.notes} if self.notes else {})}


def check_error_budget(report: dict, max_bad_fraction: float) -> None:
  """Raises ValueError naming the worst lines when a file's malformed share exceeds `max_bad_fraction`."""
  for name, f in report["files"].items():
    if not f["lines_read"] or f["lines_dropped"] / f["lines_read"] <= max_bad_fraction:
      continue
    worst = sorted(f["dropped"].items(), key=lambda kv: -kv[1])
    reasons = ", ".join(f"{r}: {c}" for r, c in worst)
    examples = sorted(f["examples"], key=lambda e: (-f["dropped"][e["reason"]], e["line"]))[:5]
    lines = "; ".join(f"line {e['line']} ({e['reason']}{': ' + e['detail'] if e['detail'] else ''})"
                      for e in examples)
    raise UserError(
        f"{f['path']}: {f['lines_dropped']} of {f['lines_read']} lines are malformed "
        f"({f['lines_dropped'] / f['lines_read']:.1%}), over the error budget data.max_bad_fraction="
        f"{max_bad_fraction} ({reasons}); first: {lines}")
