"""task=next_item: next-item prediction from the click sequence (SASRec, BERT4Rec, ...), measured like retrieval,
by ranking the catalogue for each test click.

Training, for a model with a sequence objective (`model.sequence_objective`: SASRec's causal one, BERT4Rec's
cloze; models/zoo/sequential.py): each user's train clicks once, as whole sequences packed into fixed-length rows
(`training_unit="sequence"`, tasks/packed_sequences.py), or, as RecBole does, one row per click with its history
(`"interaction"`: every prefix computed again per click). Other models (popularity, the mean encoder): one row per
click, the history predicting the clicked item. The loss (tasks/next_item_loss.py): a full softmax over the item
table, a sampled softmax over `num_negatives` uniform items, or SASRec's binary cross-entropy (`loss="bce"`).
"""

from __future__ import annotations

import dataclasses

import jax

from rec_jax import options
from rec_jax.batch import PackedSequences
from rec_jax.errors import UserError
from rec_jax.evaluation.protocols import RANKING
from rec_jax.tasks import retrieval
from rec_jax.tasks.clicked_rows import clicked_rows
from rec_jax.tasks.next_item_loss import next_item_loss
from rec_jax.tasks.packed_sequences import PackedSequenceRows
from rec_jax.tasks.task import Task, TrainingRows


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  num_negatives: int = 0   # 0: full softmax over the items; N: N items sampled uniformly per step
  mask_prob: float = 0.2   # BERT4Rec's cloze: each item masked with this probability
  loss: str = "softmax"    # softmax (full, or sampled with num_negatives) | bce (SASRec's, one negative each)
  training_unit: str = "sequence"   # sequence: each user's clicks once, packed | interaction: a row per click

  def __post_init__(self):
    if self.training_unit not in TRAINING_UNITS:
      raise UserError(f"task_options.training_unit={self.training_unit!r} is not one of {TRAINING_UNITS}")


TRAINING_UNITS = ("sequence", "interaction")


def train_rows(train, opts: Options, model=None):
  if opts.training_unit == "sequence" and getattr(model, "sequence_objective", None):
    return PackedSequenceRows.from_train(train, capacity=train.rows.history.shape[1] + 1)
  return TrainingRows(clicked_rows(train))


def loss(model, batch, rng, opts: Options):
  """The model's sequence objective (SASRec: every position predicts the next item; BERT4Rec: masked items; else
  the history predicts the row's item), on packed sequences or on click rows."""
  target_rng, negative_rng = jax.random.split(rng)
  if isinstance(batch, PackedSequences):
    states, targets, weights = model.packed_targets(batch, target_rng, mask_prob=opts.mask_prob)
  else:
    states, targets, weights = model.next_item_targets(batch, target_rng, mask_prob=opts.mask_prob)
    weights = weights * batch.weight[:, None]
  return next_item_loss(states, targets, weights, model.item_table(), negative_rng,
                        num_negatives=opts.num_negatives, loss=opts.loss)


TASK = Task(loss=loss, evaluation=RANKING, metrics=retrieval.METRICS, train_rows=train_rows,
            model_methods=("query_vectors", "candidate_vectors", "next_item_targets", "item_table"))
