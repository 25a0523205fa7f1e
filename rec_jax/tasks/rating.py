"""task=rating: explicit feedback (`features.label` = the rating column). Squared error; models predict mean +
biases + interactions (their output plus the train mean of the label, `centre_labels`). Measured by RMSE and MAE
on all rows and the warm/cold item slices (evaluation/protocols.py's RATING)."""

from __future__ import annotations

import jax.numpy as jnp

from rec_jax.evaluation.protocols import RATING
from rec_jax.options import NoOptions as Options  # noqa: F401  (no task_options)
from rec_jax.tasks.task import MetricSpec, Task, weighted_mean


def squared_error_loss(model, batch, rng, options):
  del rng, options
  return weighted_mean(jnp.square(model(batch) - batch.label), batch.weight)


METRICS = MetricSpec(table=("rmse", "mae", "rmse/cold"), progress=("rmse", "rmse/cold", "mae"),
                     summary=("rmse", "mae", "rmse/cold"), best="rmse", lower=frozenset({"rmse", "mae"}))

TASK = Task(loss=squared_error_loss, evaluation=RATING, metrics=METRICS, score=lambda model, batch: model(batch),
            centre_labels=True)
