"""Progress of the long steps: tqdm bars for data preparation, training, evaluation and sweeps, plus the training
log lines (step, loss, steps/s, ETA and the latest eval metrics).

Bars go to stderr when it is a terminal; in log files (a sweep's `run.log`, CI) the carriage-return redraws would
only clutter, so they are off there unless `RECJAX_PROGRESS=1` (`RECJAX_PROGRESS=0` turns them off everywhere).
The log lines are written either way.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Dict, Iterable, Optional, Sequence

from absl import logging
from tqdm import tqdm   # not tqdm.auto: in a notebook that wants ipywidgets, and bars are off there anyway

ENV = "RECJAX_PROGRESS"


def bars_enabled() -> bool:
  setting = os.environ.get(ENV, "")
  if setting in ("0", "1"):
    return setting == "1"
  return sys.stderr.isatty()


def bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "", unit: str = "it",
        initial: int = 0, leave: bool = False):
  """A tqdm bar (a no-op one when bars are off); `leave=False` so finished bars do not pile up in the terminal."""
  return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave,
              disable=not bars_enabled(), dynamic_ncols=True, mininterval=0.5, file=sys.stderr)


class Progress:
  """The training loop's bar over steps and its log line every `every` steps."""

  def __init__(self, num_steps: int, start_step: int, every: int, headline: Sequence[str]):
    """`headline`: the validation metrics the log line shows (the task's MetricSpec.progress)."""
    self.num_steps, self.every, self.headline = num_steps, every, headline
    self._t, self._step = time.perf_counter(), start_step
    self.latest_eval: Dict[str, float] = {}
    self.rate = 0.0   # steps/s over the last `every` steps
    self._bar = bar(total=num_steps, initial=start_step, desc="train", unit="step")

  def step(self, step: int, train_metrics: Optional[Dict[str, float]] = None) -> bool:
    """Advances the bar; every `every` steps (and at the end) logs a line and returns True."""
    self._bar.update(step - self._bar.n)
    if step % self.every and step != self.num_steps:
      return False
    now = time.perf_counter()
    self.rate = (step - self._step) / max(now - self._t, 1e-9)
    self._t, self._step = now, step
    eta = (self.num_steps - step) / max(self.rate, 1e-9)
    train = {k: float(v) for k, v in (train_metrics or {}).items()}
    evals = " ".join(f"{k}={self.latest_eval[k]:.4f}" for k in self.headline if k in self.latest_eval)
    self._bar.set_postfix({k: f"{v:.4f}" for k, v in train.items()}, refresh=False)
    logging.info("step %d/%d  %s  %.2f steps/s  ETA %dm%02ds  %s", step, self.num_steps,
                 " ".join(f"{k}={v:.4f}" for k, v in train.items()), self.rate, eta // 60, eta % 60,
                 f"| val {evals}" if evals else "")
    return True

  def close(self) -> None:
    self._bar.close()
