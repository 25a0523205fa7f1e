"""task=ctr: click-through rate. Pointwise sigmoid cross-entropy on every row; the model's output is the click
logit. Measured by AUC, gAUC, logloss and ndcg@K within rank groups, on all rows and the warm/cold item slices,
beside the data's oracle (evaluation/protocols.py's CTR)."""

from __future__ import annotations

import jax
import optax

from rec_jax.evaluation.protocols import CTR
from rec_jax.options import NoOptions as Options  # noqa: F401  (no task_options)
from rec_jax.tasks.task import MetricSpec, Task, weighted_mean


def bce_loss(model, batch, rng, options):
  """Mean sigmoid cross-entropy over real rows."""
  del rng, options
  return weighted_mean(optax.sigmoid_binary_cross_entropy(model(batch), batch.label), batch.weight)


def click_probability(model, batch):
  return jax.nn.sigmoid(model(batch))


METRICS = MetricSpec(table=("auc", "auc/cold", "logloss", "ndcg@10", "oracle_auc"),
                     progress=("auc", "auc/cold", "logloss"),
                     summary=("auc", "oracle_auc", "auc/warm", "auc/cold", "logloss", "ndcg@10", "ndcg@10/cold"),
                     best="auc", lower=frozenset({"logloss"}))

TASK = Task(loss=bce_loss, evaluation=CTR, metrics=METRICS, score=click_probability, binary_labels=True)
