"""The exception of a user's mistake, as opposed to a bug of ours.

Everything a user gives rec_jax (a config value, a data file, a workdir, a checkpoint, a sweep directory) is checked
where it is read; a problem with it raises `UserError` with a message that names the input and, where there is one,
the fix. `rec_jax.main`, `launch.sweep` and `launch.aggregate` print such a message as one `error:` line and exit
non-zero; any other exception is a bug and keeps its traceback. `RECJAX_TRACEBACK=1` shows the stack of a
`UserError` too.

`UserError` is a ValueError (and `UnknownNameError` also a KeyError), so code written against the built-in types
keeps catching them.
"""

from __future__ import annotations

import os


class UserError(ValueError):
  """A bad input, named in the message (the message is all a user sees)."""

  def __str__(self) -> str:
    return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class UnknownNameError(UserError, KeyError):
  """A config string that names no registered entry (a task, model, cross, dataset, ...)."""

  __str__ = UserError.__str__


class TrainingDiverged(UserError):
  """The training loss or the evaluation metrics became NaN or infinite: the run is failed, not finished."""


def describe_os_error(e: OSError) -> str:
  """One line for an OSError a user's environment caused (a workdir that is a file, a read-only directory, a full
  disk): what failed on which path."""
  what = e.strerror or e.__class__.__name__
  paths = [p for p in (e.filename, e.filename2) if p]
  if not paths:
    return str(e)
  return f"{what}: {' -> '.join(repr(os.fspath(p)) for p in paths)}"
