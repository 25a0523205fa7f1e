"""What launch.sweep and launch.aggregate share as command lines: a user's mistake (`UserError`) or the operating
system's refusal of a path (`OSError`: a sweep directory that is a file, a disk that is full) ends the command with
ONE line `error: <message>` on stderr and exit code 1; any other exception is a bug and keeps its traceback;
`RECJAX_TRACEBACK=1` shows the stack of the one-line errors too. `invoke` runs a command line in-process (the tests'
entry point), parsing its flags into fresh flag values exactly as absl parses the real one."""

from __future__ import annotations

import os
import sys
from typing import Callable, List, Sequence

from absl import flags

from rec_jax.errors import UserError, describe_os_error


def error_line(e: BaseException) -> str:
  """`error: <message>` on one line (a message's own line breaks become '; ')."""
  message = describe_os_error(e) if isinstance(e, OSError) else str(e)
  return "error: " + "; ".join(line.strip() for line in message.splitlines() if line.strip())


def reporting(run: Callable[[], int]) -> int:
  """`run()`'s exit code; a UserError or OSError printed as one `error:` line (exit code 1); a bug raises."""
  try:
    return run()
  except (UserError, OSError) as e:
    if os.environ.get("RECJAX_TRACEBACK"):
      raise
    print(error_line(e), file=sys.stderr, flush=True)
    return 1


def parse_flags(argv: List[str]) -> List[str]:
  """absl's flag parsing (app.run's `flags_parser`), with a bad flag (`--parallel=two`, `--nope`) as one `error:`
  line instead of absl's fatal message."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(error_line(e))


def invoke(define: Callable[[flags.FlagValues], None], main: Callable[[flags.FlagValues, List[str]], int],
           argv: Sequence[str], program: str) -> int:
  """The command line `python -m <program> ARGV...` in this process: `define` declares the flags on fresh flag
  values, `main(values, rest)` runs; the exit code is returned and errors are printed as the CLI prints them."""
  values = flags.FlagValues()
  define(values)
  try:
    rest = values([program, *argv])
  except flags.Error as e:
    print(error_line(e), file=sys.stderr, flush=True)
    return 1
  return reporting(lambda: main(values, rest))


def no_positional_arguments(rest: Sequence[str]) -> None:
  if len(rest) > 1:
    raise UserError(f"unexpected arguments: {' '.join(rest[1:])}")
