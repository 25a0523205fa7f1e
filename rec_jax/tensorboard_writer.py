"""A run's TensorBoard event files (`<workdir>/tensorboard/`, the README's workdir contract), written with
tensorboardX: the event format without TensorFlow. Tags: `train/loss`, `train/grad_norm`, `train/learning_rate`,
`train/steps_per_s` every `train.log_every` steps, `val/<metric>` at every evaluation and `<final split>/<metric>`
once at the end. Event tags allow no `@` (TensorFlow's rule, which tensorboardX applies), so `ndcg@10/cold` is
tagged `ndcg_at_10/cold`. In a multi-process run only process 0 writes them (the others' TensorBoard does nothing):
every process logs the same values."""

from __future__ import annotations

import numbers
import os
from typing import Mapping, Optional

import numpy as np

from rec_jax import distributed
from rec_jax.workdir import TENSORBOARD_DIR


class TensorBoard:
  def __init__(self, workdir: str, start_step: int = 0):
    self._writer = None
    if not distributed.is_primary():
      return
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel  (protobuf; only when used)
    # A resumed run restarts from its checkpoint, but the interrupted process may have logged past it: purge_step
    # tells TensorBoard to hide what earlier event files hold from that step on, so the curves do not fork.
    self._writer = SummaryWriter(os.path.join(workdir, TENSORBOARD_DIR),
                                 purge_step=start_step + 1 if start_step else None, flush_secs=30,
                                 # Two processes started in the same second would otherwise share a file name.
                                 filename_suffix=f".from_step_{start_step}")

  def scalars(self, step: int, values: Mapping[str, object], prefix: str = "") -> None:
    """Every finite number of `values` (Python, NumPy or 0-d JAX) as `<prefix><name>` at `step`."""
    if self._writer is None:
      return
    for name, value in values.items():
      number = _number(value)
      if number is not None:
        self._writer.add_scalar(tag(prefix + name), number, global_step=step)

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()


def tag(name: str) -> str:
  """The event tag of a metric name: `val/ndcg@10/cold` -> `val/ndcg_at_10/cold`."""
  return name.replace("@", "_at_")


def _number(value) -> Optional[float]:
  if isinstance(value, (bool, str)) or value is None:
    return None
  if not isinstance(value, numbers.Number):
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "fiu":
      return None
  value = float(value)
  return value if np.isfinite(value) else None
