"""The NaN guard of the training loop: a run whose loss or validation metric becomes NaN or infinite stops with a
named error (`TrainingDiverged`) before anything non-finite is evaluated, checkpointed or reported, so its last
good checkpoint stays intact and the run counts as failed (no results.json; a sweep records failed.json).

The loss of every step is watched without a device sync per step: each step's loss stays a device array until the
loop syncs anyway (an evaluation, a checkpoint, a log line), and then the first non-finite one is named.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import jax
import numpy as np

from rec_jax.errors import TrainingDiverged


class DivergenceGuard:
  """Collects (step, loss) pairs; `check` raises TrainingDiverged for the first non-finite loss among them."""

  def __init__(self, hint: str):
    """`hint`: what to try, e.g. the learning rate in use, appended to the error."""
    self.hint = hint
    self._pending: List[Tuple[int, object]] = []

  def record(self, step: int, loss) -> None:
    self._pending.append((step, loss))

  def check(self, kept: Optional[int]) -> None:
    """`kept`: the step of the last checkpoint written (None: none yet), named in the error."""
    if not self._pending:
      return
    steps, losses = zip(*self._pending)
    self._pending = []
    values = np.asarray(jax.device_get(list(losses)), np.float64).reshape(len(steps), -1).sum(axis=1)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
      raise TrainingDiverged(f"training diverged: the loss is {values[bad[0]]} at step {steps[bad[0]]}; "
                             f"{_kept(kept)}; {self.hint}")

  def check_metrics(self, step: int, metrics: Dict[str, float], names, kept: Optional[int], split: str) -> None:
    """Raises when one of `names` (the best-checkpoint metric; or all of them) in `metrics` is not finite."""
    bad = {k: metrics[k] for k in names if k in metrics and not math.isfinite(float(metrics[k]))}
    if bad:
      shown = ", ".join(f"{k}={v}" for k, v in bad.items())
      raise TrainingDiverged(f"the {split} metrics are not finite at step {step} ({shown}): the model's scores "
                             f"are NaN/inf or the slice is empty; {_kept(kept)}; {self.hint}")


def _kept(step: Optional[int]) -> str:
  if step is None:
    return "no checkpoint was written and the run is failed"
  return f"the run is failed and its last good checkpoint (step {step}) is kept"
