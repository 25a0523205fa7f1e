"""Command line: `python -m rec_jax.monitor --export=DIR --log=FILE [--window=last|all|N] [--fail_on_alarm]`.

Compares what a service saw (the per-window input and score counts `python -m rec_jax.serve --monitor_log=FILE`
appends) with the training data the export recorded (reference.json): per input the population stability index and
the out-of-vocabulary rate, and the scores' PSI and mean shift (rec_jax/serving/drift.py). Prints one report; with
--fail_on_alarm the exit code is 3 when an input or the scores drifted (PSI >= 0.2), for a cron job or a CI check.
"""

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from rec_jax.errors import UserError


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m rec_jax.monitor", description=__doc__.split("\n\n")[1])
  parser.add_argument("--export", required=True, help="the export directory the service serves")
  parser.add_argument("--log", required=True, help="the service's --monitor_log file")
  parser.add_argument("--window", default="last", help="last | all (every window merged) | a window number")
  parser.add_argument("--json", action="store_true", help="print the report as JSON")
  parser.add_argument("--fail_on_alarm", action="store_true", help="exit code 3 when anything drifted")
  args = parser.parse_args(argv)
  from rec_jax.serving.drift import ALARM, compare, format_report, merge, read_windows
  from rec_jax.serving.layout import REFERENCE_FILE
  try:
    path = os.path.join(args.export, REFERENCE_FILE)
    if not os.path.exists(path):
      raise UserError(f"{args.export} has no {REFERENCE_FILE}: not an export of python -m rec_jax.export")
    with open(path) as f:
      reference = json.load(f)
    if not os.path.exists(args.log):
      raise UserError(f"--log={args.log} does not exist (the service writes it with --monitor_log)")
    try:
      windows = read_windows(args.log)
    except json.JSONDecodeError as e:
      raise UserError(f"{args.log} is not a monitor log ({e})") from None
    if not windows:
      raise UserError(f"{args.log} holds no window yet")
    if args.window == "last":
      window = windows[-1]
    elif args.window == "all":
      window = merge(windows)
    else:
      picked = [w for w in windows if str(w["window"]) == args.window]
      if not picked:
        raise UserError(f"--window={args.window}: the log has windows {windows[0]['window']}..{windows[-1]['window']}")
      window = picked[0]
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  rows = compare(reference, window)
  if args.json:
    print(json.dumps({"window": window["window"], "rows": rows}, indent=1))
  else:
    print(format_report(rows, window))
  return 3 if args.fail_on_alarm and any(r["psi"] >= ALARM for r in rows) else 0


if __name__ == "__main__":
  sys.exit(main())
