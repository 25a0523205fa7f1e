"""Training progress lines: step, loss, steps/s, ETA and the latest eval metrics."""

from __future__ import annotations

import time
from typing import Dict, Optional

from absl import logging


class Progress:
  def __init__(self, num_steps: int, start_step: int, every: int, headline=("auc", "auc/cold", "logloss")):
    self.num_steps, self.every, self.headline = num_steps, every, headline
    self._t, self._step = time.perf_counter(), start_step
    self.latest_eval: Dict[str, float] = {}

  def step(self, step: int, train_metrics: Optional[Dict[str, float]] = None) -> None:
    if step % self.every and step != self.num_steps:
      return
    now = time.perf_counter()
    rate = (step - self._step) / max(now - self._t, 1e-9)
    self._t, self._step = now, step
    eta = (self.num_steps - step) / max(rate, 1e-9)
    train = " ".join(f"{k}={float(v):.4f}" for k, v in (train_metrics or {}).items())
    evals = " ".join(f"{k}={self.latest_eval[k]:.4f}" for k in self.headline if k in self.latest_eval)
    logging.info("step %d/%d  %s  %.2f steps/s  ETA %dm%02ds  %s", step, self.num_steps, train, rate,
                 eta // 60, eta % 60, f"| val {evals}" if evals else "")
