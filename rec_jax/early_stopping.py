"""Early stopping (`train.early_stopping`): a run stops once the best-checkpoint metric has not improved for
`patience` evaluations in a row; `train.num_steps` is then the budget, not the length of the run.

An evaluation improves on the best so far when it is better by more than `min_delta` (in the metric's direction:
`checkpoint.best_metric` / `best_mode`, the best checkpoint's). The decision reads the workdir's validation log
(metrics.jsonl), which a resumed run truncates to its restored step, so a resumed run stops at the step an
uninterrupted one would. patience = 0 (the base config's default) never stops.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from rec_jax import options
from rec_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class EarlyStopping(options.Options):
  patience: int = 0        # evaluations without improvement before stopping; 0: never stop early
  min_delta: float = 0.0   # an improvement smaller than this does not count

  def __post_init__(self):
    if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
      raise UserError(f"train.early_stopping.patience={self.patience!r} must be an integer >= 0")
    if self.min_delta < 0:
      raise UserError(f"train.early_stopping.min_delta={self.min_delta!r} must be >= 0")


def best_evaluation(history: Sequence[dict], metric: str, mode: str, min_delta: float = 0.0) -> Optional[int]:
  """Index in `history` (the validation log, oldest first) of the best evaluation: the first, then each later one
  better than the best so far by more than `min_delta`. None when no evaluation has the metric."""
  sign = 1.0 if mode == "max" else -1.0
  best = None
  for i, entry in enumerate(history):
    if metric not in entry:
      continue
    if best is None or sign * (entry[metric] - history[best][metric]) > min_delta:
      best = i
  return best


def should_stop(history: Sequence[dict], metric: str, mode: str, stopping: EarlyStopping) -> bool:
  """True when the last `patience` evaluations of `history` all failed to improve on the best before them."""
  if not stopping.patience:
    return False
  best = best_evaluation(history, metric, mode, stopping.min_delta)
  return best is not None and len(history) - 1 - best >= stopping.patience
