"""task=search: a user's query and the results shown for it. A click is scored from the query, the item and the
user (the hybrid reads the query through `features.query`, models/zoo/hybrid.py): pointwise cross-entropy, as
learning-to-rank from clicks commonly starts, measured as CTR with ndcg@K ranking each search session's results
(`features.rank_group`)."""

from __future__ import annotations

import dataclasses

from rec_jax.evaluation.protocols import CTR
from rec_jax.tasks import ctr
from rec_jax.options import NoOptions as Options  # noqa: F401  (no task_options)
from rec_jax.tasks.task import Task

METRICS = dataclasses.replace(ctr.METRICS, table=("auc", "auc/cold", "logloss", "ndcg@10", "oracle_ndcg@10"),
                              summary=ctr.METRICS.summary + ("oracle_ndcg@10",))

TASK = Task(loss=ctr.bce_loss, evaluation=CTR, metrics=METRICS, score=ctr.click_probability, requires=("query",),
            binary_labels=True)
