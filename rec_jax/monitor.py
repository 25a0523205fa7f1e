"""Command line: `python -m rec_jax.monitor --export=DIR --log=FILE [--window=last|all|N] [--fail_on_alarm]`.

Compares what a service saw (the per-window input and score counts `python -m rec_jax.serve --monitor_log=FILE`
appends) with the training data the export recorded (reference.json): per input the population stability index and
the out-of-vocabulary rate, and the scores' PSI and mean shift (rec_jax/serving/drift.py). Prints one report; with
--fail_on_alarm the exit code is 3 when an input or the scores drifted (PSI >= 0.2), for a cron job or a CI check.
A bad flag, export or log (missing, not a monitor log, the log of another export's service) is one `error:` line
and exit code 1; a last line cut short by a stopped service is skipped with a note on stderr.
"""

import json
import os
import sys
from typing import Optional, Sequence

from rec_jax.errors import UserError
from rec_jax.main import call_reporting
from rec_jax.serving.cli import Parser


def _load(export: str, log: str, which: str):
  """(the export's reference, the chosen window, notes)."""
  from rec_jax.serving.bundle import json_file
  from rec_jax.serving.drift import merge, read_log
  from rec_jax.serving.layout import MANIFEST, REFERENCE_FILE
  if not os.path.isdir(export):
    raise UserError(f"--export={export} " + ("is a file, not an export directory" if os.path.exists(export) else
                                             "does not exist"))
  path = os.path.join(export, REFERENCE_FILE)
  if not os.path.exists(path):
    raise UserError(f"{export} has no {REFERENCE_FILE}: not an export of python -m rec_jax.export")
  reference = json_file(path, "monitoring reference")
  if not isinstance(reference.get("inputs"), dict) or not isinstance(reference.get("score"), dict):
    raise UserError(f"{path} is damaged: it lacks inputs or score; export the run again")
  manifest = os.path.join(export, MANIFEST)
  version = json_file(manifest, "export manifest").get("model_version") if os.path.exists(manifest) else None
  if not os.path.exists(log):
    raise UserError(f"--log={log} does not exist (the service writes it with --monitor_log)")
  if os.path.isdir(log):
    raise UserError(f"--log={log} is a directory; give the service's --monitor_log file")
  windows, notes = read_log(log, reference, version)
  if not windows:
    raise UserError(f"{log} holds no window yet (a service writes one every --window_rows rows or --window_seconds, "
                    "and when it stops)" + (f"; {notes[0]}" if notes else ""))
  if which == "last":
    return reference, windows[-1], notes
  if which == "all":
    return reference, merge(windows), notes
  picked = [w for w in windows if str(w["window"]) == which]
  if not picked:
    raise UserError(f"--window={which}: expected last, all or a window number of the log "
                    f"({windows[0]['window']}..{windows[-1]['window']})")
  return reference, picked[0], notes


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = Parser(prog="python -m rec_jax.monitor", description=__doc__.split("\n\n")[1])
  parser.add_argument("--export", required=True, help="the export directory the service serves")
  parser.add_argument("--log", required=True, help="the service's --monitor_log file")
  parser.add_argument("--window", default="last", help="last | all (every window merged) | a window number")
  parser.add_argument("--json", action="store_true", help="print the report as JSON")
  parser.add_argument("--fail_on_alarm", action="store_true", help="exit code 3 when anything drifted")
  args = parser.parse_args(argv)
  from rec_jax.serving.drift import ALARM, compare, format_report
  loaded, code = call_reporting(lambda: _load(args.export, args.log, args.window))
  if code:
    return code
  reference, window, notes = loaded
  for note in notes:
    print(f"note: {note}", file=sys.stderr, flush=True)
  rows = compare(reference, window)
  if args.json:
    print(json.dumps({"window": window["window"], "rows": rows}, indent=1))
  else:
    print(format_report(rows, window))
  return 3 if args.fail_on_alarm and any(r["psi"] >= ALARM for r in rows) else 0


if __name__ == "__main__":
  sys.exit(main())
