"""Command line: `python -m rec_jax.main --config=configs/x.py[:preset] --workdir=DIR [--config.a.b=v ...]`.

Kept short on purpose (as the Flax examples' main.py): all logic lives in `train.py` and the modules it calls.
Config files are Python and are executed: only run configs you trust.
"""

import logging as py_logging
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from rec_jax.config.loader import override_errors

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py[:preset]).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for config.json, metrics, checkpoints and results.")
flags.mark_flags_as_required(["config", "workdir"])


def _apply_cpu_affinity() -> None:
  """Pins this process to the cores a parallel sweep gave its slot (launch/devices.py); before JAX starts."""
  cores = os.environ.get("RECJAX_CPU_AFFINITY", "")
  if cores and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {int(c) for c in cores.split(",")})


class _QuietLibraries(py_logging.Filter):
  """Orbax logs every checkpoint step at INFO; keep its warnings, drop the chatter."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or "orbax" not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  _apply_cpu_affinity()
  from rec_jax import train  # Imports JAX; after flag parsing so --help stays fast.
  from rec_jax.xla_cpu import select_cpu_dots
  logging.info("workdir %s", _WORKDIR.value)
  try:
    select_cpu_dots(_CONFIG.value.parallel.cpu_dots)  # Before JAX starts its backend.
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, KeyError, FileNotFoundError) as e:
    # Bad configs, data, files and checkpoints raise these with a message naming the problem; a user needs the
    # message, not our stack. Set RECJAX_TRACEBACK=1 to see the stack.
    if os.environ.get("RECJAX_TRACEBACK"):
      raise
    sys.exit(f"error: {e.args[0] if len(e.args) == 1 else e}")


if __name__ == "__main__":
  errors = override_errors(sys.argv)
  if errors:
    sys.exit("error: " + "\nerror: ".join(errors))
  app.run(main)
