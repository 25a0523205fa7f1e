"""task=next_item: next-item prediction from the click sequence (SASRec, BERT4Rec, ...). Trains on the clicked
rows with the model's sequence objective (`model.next_item_targets`, models/zoo/sequential.py), scored by a full
softmax over the item table or `num_negatives` sampled items (tasks/next_item_loss.py); measured like retrieval,
by ranking the catalogue for each test click."""

from __future__ import annotations

import dataclasses

import jax

from rec_jax import options
from rec_jax.evaluation.protocols import RANKING
from rec_jax.tasks import retrieval
from rec_jax.tasks.clicked_rows import clicked_rows
from rec_jax.tasks.next_item_loss import next_item_loss
from rec_jax.tasks.task import Task, TrainingRows


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  num_negatives: int = 0   # 0: full softmax over the items; N: N items sampled uniformly per step
  mask_prob: float = 0.2   # BERT4Rec's cloze: each item masked with this probability


def train_rows(train, opts: Options) -> TrainingRows:
  del opts
  return TrainingRows(clicked_rows(train))


def loss(model, batch, rng, opts: Options):
  """The model's sequence objective (SASRec: every position predicts the next item; BERT4Rec: masked items; else
  the history predicts the row's item)."""
  target_rng, negative_rng = jax.random.split(rng)
  states, targets, weights = model.next_item_targets(batch, target_rng, mask_prob=opts.mask_prob)
  return next_item_loss(states, targets, weights * batch.weight[:, None], model.item_table(), negative_rng,
                        num_negatives=opts.num_negatives)


TASK = Task(loss=loss, evaluation=RANKING, metrics=retrieval.METRICS, train_rows=train_rows,
            model_methods=("query_vectors", "candidate_vectors", "next_item_targets", "item_table"))
