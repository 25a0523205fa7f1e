r"""LaTeX versions of launch.aggregate's tables for `results.tex`: one booktabs `table` environment per task.

Include it with `\usepackage{booktabs}` and `\input{results.tex}`. Every name and error text is escaped (and reduced
to ASCII), so the file compiles whatever a variant is called or a failed run printed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, List

if TYPE_CHECKING:
  from launch.aggregate import Cell, TaskTable, VariantRow

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            # Plain text fonts (OT1) print these as other glyphs.
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_SPECIAL_PATTERN = re.compile("|".join(re.escape(c) for c in _SPECIAL))
ERROR_CHARS = 90   # A failed run's error is cut to this many characters: its row spans the table, not the page.


def escape(text) -> str:
  """LaTeX source printing `text`. One pass, so the braces of `\\textbackslash{}` are not escaped again; non-ASCII
  characters become `?`, since pdflatex stops at any character its font does not define."""
  ascii_text = str(text).encode("ascii", "replace").decode("ascii")
  return _SPECIAL_PATTERN.sub(lambda match: _SPECIAL[match.group()], ascii_text)


def _truncate(text: str, limit: int = ERROR_CHARS) -> str:
  return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def latex_cell(cell: Cell) -> str:
  if not cell.n:
    return "--"
  text = rf"\textbf{{{cell.mean_text()}}}" if cell.best else cell.mean_text()
  if cell.std is not None:
    text += rf" $\pm$ {cell.std_text()}"
  return text + (r"$^\dagger$" if cell.significant else "")


def _variant_line(row: VariantRow, metrics: List[str]) -> str:
  name = escape(row.variant) + (" (baseline)" if row.is_baseline else "")
  cells = [name, escape(row.model or ""), str(len(row.done)), *[latex_cell(row.cells[m]) for m in metrics],
           f"{row.steps_per_s:.1f}" if row.steps_per_s else "--", f"{row.params or 0:,}"]
  return " & ".join(cells) + r" \\"


def _failure_line(row: VariantRow, run: dict, columns: int) -> str:
  """A run that did not finish: one row spanning the table, with its (cut) error."""
  label = escape(f"{row.variant} (seed {run['seed']}): {run['status']}")
  return rf"\multicolumn{{{columns}}}{{l}}{{\emph{{{label}}}: {escape(_truncate(run['error'] or ''))}}} \\"


def latex_footnote(table: TaskTable) -> str:
  test = (rf"$^\dagger$: $p < {table.alpha:g}$ in a two-sided paired t-test against the baseline over the seeds "
          "both finished" if table.baseline else "no baseline, so no significance test")
  counts = ", ".join(f"{n} {status}" for status, n in table.run_counts().items())
  return rf"$\pm$: sample std over {table.seeds_phrase('--')} (the seeds column); {test}. Runs: {counts}."


def latex_table(table: TaskTable) -> str:
  head = ["variant", "model", "seeds", *table.metrics, "steps/s", "params"]
  lines = []
  for row in table.rows:
    if row.done:
      lines.append(_variant_line(row, table.metrics))
    lines += [_failure_line(row, run, len(head)) for run in row.not_done]
  label = re.sub(r"[^A-Za-z0-9]+", "-", table.task)
  return "\n".join([
      r"\begin{table}[htbp]", r"\centering", r"\small",
      rf"\caption{{{escape(table.task)}: mean $\pm$ std over seeds; the best mean of each column in bold.}}",
      rf"\label{{tab:{label}}}",
      r"\begin{tabular}{" + "ll" + "r" * (len(head) - 2) + "}", r"\toprule",
      " & ".join(escape(h) for h in head) + r" \\", r"\midrule", *lines, r"\bottomrule", r"\end{tabular}",
      r"\par\smallskip", r"{\footnotesize " + latex_footnote(table) + r"\par}", r"\end{table}", ""])


def latex_tables(tables: List[TaskTable]) -> str:
  return "% Written by launch.aggregate; needs \\usepackage{booktabs}.\n" + "\n".join(latex_table(t) for t in tables)
