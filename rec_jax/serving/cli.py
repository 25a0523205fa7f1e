"""What the serving commands (rec_jax.export, rec_jax.serve, rec_jax.monitor) share as command lines: a bad flag is
ONE line `error: <what> (python -m <prog> --help lists the flags)` and exit code 1, as every rec_jax command; a
UserError or OSError raised while running is one `error:` line too (rec_jax.main.call_reporting)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
  """argparse with its errors (a missing or unknown flag, a bad value) as one `error:` line and exit code 1, instead
  of argparse's usage block and exit code 2."""

  def error(self, message: str) -> NoReturn:
    print(f"error: {message} ({self.prog} --help lists the flags)", file=sys.stderr, flush=True)
    sys.exit(1)
