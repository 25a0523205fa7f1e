"""What a task is (`Task`), its metric facts (`MetricSpec`) and the rows it trains on (`TrainingRows`)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, FrozenSet, Optional, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from rec_jax.batch import Batch, FeatureArrays
from rec_jax.data.pipeline import WHOLE, BatchShare, train_batch
from rec_jax.errors import UserError
from rec_jax.tasks.clicked_rows import negative_batch


@dataclasses.dataclass(frozen=True)
class MetricSpec:
  """A task's metric facts, for logs, checkpoints and launch.aggregate's tables.

  table: the default columns of a sweep's table; progress: the validation metrics of the training log line;
  summary: those of the final log line; best: the metric the best checkpoint is chosen by when the config's
  `checkpoint.best_metric` is empty; lower: the metric names (before `@` and `/`) where smaller is better."""
  table: Tuple[str, ...]
  progress: Tuple[str, ...]
  summary: Tuple[str, ...]
  best: str
  lower: FrozenSet[str] = frozenset()

  def lower_is_better(self, metric: str) -> bool:
    return re.split("[@/]", metric, maxsplit=1)[0] in self.lower | {"loss"}


@dataclasses.dataclass
class TrainingRows:
  """The rows a task trains on and, for retrieval, the pool its extra negatives are drawn from."""
  rows: FeatureArrays
  negatives: Optional[FeatureArrays] = None
  num_negatives: int = 0

  def describe(self) -> dict:
    """What one epoch trains (logged, and in results.json's `training`)."""
    return {"unit": "row", "rows": len(self.rows)}

  def batch_sizes(self, batch_size: int) -> Sequence[int]:
    """The leading sizes of a step's arrays: each must divide over the data axis."""
    return [batch_size] + ([self.num_negatives] if self.negatives is not None else [])

  def batch(self, step: int, batch_size: int, seed: int, share: BatchShare = WHOLE) -> Batch:
    """This process's `share` (data/pipeline.py) of the batch of global step `step`, a pure function of (seed,
    step); the extra negatives are shared out like the rows."""
    batch = train_batch(self.rows, step, batch_size, seed, share)
    if self.negatives is not None:
      batch = batch.replace(negatives=negative_batch(self.negatives, step, self.num_negatives, seed, share))
    return batch


def all_rows(train: FeatureArrays, options, model=None) -> TrainingRows:
  del options, model
  return TrainingRows(train)


def weighted_mean(losses, weights):
  """Mean over real rows (weight 0 rows are padding)."""
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


@dataclasses.dataclass(frozen=True)
class Task:
  """loss: (model, batch, rng, options) -> scalar, `options` the task module's Options (from `task_options`);
  evaluation: the protocol measuring it; score: (model, batch) -> [batch] predictions of pointwise tasks;
  requires: `features` keys that must be set; model_methods: what the model must provide besides __call__;
  centre_labels: models add the train mean of the label to their output (rating); train_rows: (train split,
  options, model) -> what `batch(step, batch_size, seed, share)` draws training batches from (TrainingRows, or
  next_item's PackedSequenceRows when the model trains on whole sequences)."""
  loss: Callable
  evaluation: Any
  metrics: MetricSpec
  score: Optional[Callable] = None
  requires: Tuple[str, ...] = ()
  model_methods: Tuple[str, ...] = ()
  centre_labels: bool = False
  train_rows: Callable[..., Any] = all_rows
  binary_labels: bool = False   # the loss needs a 0/1 label (a click), not a rating or a price

  @property
  def pointwise(self) -> bool:
    """Scores each row (ctr, search, rating) rather than ranking items for a query (retrieval, next_item)."""
    return self.score is not None

  def check(self, name: str, features) -> None:
    missing = [k for k in self.requires if not getattr(features, k)]
    if missing:
      raise UserError(f"task={name!r} needs " + ", ".join(f"features.{k}" for k in missing)
                      + " (the column holding it)")

  def check_labels(self, name: str, column: str, train) -> None:
    """After the data is read, before training: a task of 0/1 labels refuses a label column with other values in
    the train split (`train`: its FeatureArrays; a streamed split, whose format gives 0/1 clicks, is not read)."""
    rows = getattr(train, "rows", None)
    if not self.binary_labels or rows is None:
      return
    labels = np.asarray(rows.label)
    other = np.unique(labels[(labels != 0) & (labels != 1)])
    if other.size:
      shown = ", ".join(f"{v:g}" for v in other[:5]) + (", ..." if other.size > 5 else "")
      raise UserError(f"task={name!r} learns a 0/1 label, but features.label={column!r} has other values in the "
                      f"train split ({shown}); data.implicit_threshold turns ratings into 0/1 labels, or "
                      "task=rating learns the values")

  def check_model(self, name: str, model_name: str, model) -> None:
    missing = [m for m in self.model_methods if not callable(getattr(model, m, None))]
    if missing:
      raise UserError(f"task={name!r} needs a model with {', '.join(missing)}; model.name="
                      f"{model_name!r} has none (ranking models: two_tower, sequential, popularity)")
