"""Command line: `python -m rec_jax.main --config=configs/x.py[:preset] --workdir=DIR [--config.a.b=v ...]`.

Kept short on purpose (as the Flax examples' main.py): all logic lives in `train.py` and the modules it calls.
Config files are Python and are executed: only run configs you trust.

A bad input (a config key or value, a data file, a workdir, a checkpoint) ends the command with one line
`error: <what is wrong and where>` and exit code 1: the code raised `UserError` (rec_jax/errors.py) or the operating
system refused a file (OSError). Any other exception is a bug of ours and keeps its traceback;
`RECJAX_TRACEBACK=1` shows the stack of the one-line errors too. A run that finishes prints where its results and
its data cache are.

Many processes: start the same command in every process, with JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
JAX_PROCESS_ID set (or under SLURM's srun) and one shared --workdir; rec_jax/distributed.py has the commands.
"""

import logging as py_logging
import os
import sys
from typing import Callable, List, Optional, Sequence, Tuple, TypeVar

from absl import app, flags, logging
from ml_collections import config_flags

from rec_jax.config import dict_overrides
from rec_jax.config.loader import read_command_line
from rec_jax.errors import UserError, describe_os_error

T = TypeVar("T")
_DICT_OVERRIDES: List[dict_overrides.DictOverride] = []   # (set when run as a program)
_CONFIG_HELP = "Experiment config file (configs/*.py[:preset])."
_WORKDIR_HELP = "Directory for config.json, metrics, checkpoints and results."


def define_flags(values: flags.FlagValues = flags.FLAGS, argv: Optional[Sequence[str]] = None) -> None:
  """--config and --workdir on `values` (absl's global flags for the command line, fresh ones for `invoke`)."""
  config_flags.DEFINE_config_file("config", None, _CONFIG_HELP, flag_values=values, sys_argv=argv)
  flags.DEFINE_string("workdir", None, _WORKDIR_HELP, flag_values=values)


def _apply_cpu_affinity() -> None:
  """Pins this process to the cores a parallel sweep gave its slot (launch/devices.py); before JAX starts."""
  cores = os.environ.get("RECJAX_CPU_AFFINITY", "")
  if cores and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {int(c) for c in cores.split(",")})


class _QuietLibraries(py_logging.Filter):
  """Orbax logs every checkpoint step at INFO; keep its warnings, drop the chatter."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or "orbax" not in record.pathname


def error_line(e: BaseException) -> Optional[str]:
  """The one line a user sees for a user error or an OS refusal; None for anything else (a bug)."""
  if isinstance(e, UserError):
    return f"error: {e}"
  if isinstance(e, OSError):
    return f"error: {describe_os_error(e)}"
  return None


def call_reporting(fn: Callable[[], T]) -> Tuple[Optional[T], int]:
  """(fn(), 0); or (None, 1) after printing a user error's one `error:` line to stderr (the other commands:
  rec_jax.export, rec_jax.serve); a bug raises, as does any error with RECJAX_TRACEBACK=1."""
  try:
    return fn(), 0
  except (UserError, OSError) as e:
    if os.environ.get("RECJAX_TRACEBACK"):
      raise
    print(error_line(e), file=sys.stderr)
    return None, 1


def run(config, workdir: str) -> None:
  """Trains, evaluates and reports one run (or resumes it, or reports a finished one)."""
  from rec_jax import distributed, train  # Imports JAX; after flag parsing so --help stays fast.
  from rec_jax.xla_cpu import select_cpu_dots
  logging.info("workdir %s", workdir)
  # Both before JAX starts its backend, which reads XLA_FLAGS once and must know its peer processes.
  select_cpu_dots(config.parallel.cpu_dots)
  distributed.initialize()
  train.train_and_evaluate(config, workdir)
  data_dir = os.path.expanduser(config.data.data_dir)
  print(f"done: results in {os.path.join(os.path.abspath(workdir), 'results.json')}; data cache in {data_dir}",
        flush=True)


def run_reporting(config, workdir: str) -> Tuple[int, str]:
  """`run`, with a user error as (1, its `error:` line); (0, '') when it finishes; a bug raises."""
  try:
    run(config, workdir)
  except (UserError, OSError) as e:
    if os.environ.get("RECJAX_TRACEBACK"):
      raise
    return 1, error_line(e)
  return 0, ""


def invoke(argv: Sequence[str]) -> Tuple[int, str]:
  """The command line `python -m rec_jax.main ARGV...` in this process (the tests' entry point): (exit code, its
  `error:` line or ''). Flags are parsed into fresh flag values, as absl parses the real command line."""
  errors, argv, overrides = read_command_line(["rec_jax.main", *argv])
  if errors:
    return 1, "error: " + "\nerror: ".join(errors)
  values = flags.FlagValues()
  define_flags(values, argv)
  try:
    rest = values(argv)
  except flags.Error as e:
    return 1, f"error: {e}"
  if len(rest) > 1 or values.config is None or not values.workdir:
    return 1, "error: usage: --config=FILE[:preset] --workdir=DIR [--config.a.b=v ...]"
  dict_overrides.apply(values.config, overrides)
  return run_reporting(values.config, values.workdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  _apply_cpu_affinity()
  dict_overrides.apply(flags.FLAGS.config, _DICT_OVERRIDES)
  code, line = run_reporting(flags.FLAGS.config, flags.FLAGS.workdir)
  if code:
    sys.exit(line)


def _parse_flags(argv: List[str]) -> List[str]:
  """absl's flag parsing, with a bad flag value (`--config.train.num_steps=ten`) as one `error:` line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  # Global flags only here: importing the module (tests, launch.sweep beside it) defines none.
  _errors, _argv, _DICT_OVERRIDES = read_command_line(sys.argv)
  if _errors:
    sys.exit("error: " + "\nerror: ".join(_errors))
  define_flags(argv=_argv)
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, argv=_argv, flags_parser=_parse_flags)
