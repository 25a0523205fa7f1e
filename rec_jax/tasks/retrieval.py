"""task=retrieval: two-tower retrieval from clicks. Trains on the clicked rows with an in-batch softmax
(tasks/retrieval_loss.py: logQ-corrected, accidental hits removed, optionally extra uniform negatives carried as
the batch's `negatives`); measured by ranking the whole item catalogue, or sampled candidates, for each test click
(evaluation/protocols.py's RANKING: hit@K, recall@K, ndcg@K, mrr@K)."""

from __future__ import annotations

import dataclasses

from rec_jax import options
from rec_jax.evaluation.protocols import RANKING
from rec_jax.tasks.clicked_rows import clicked_rows, negative_pool
from rec_jax.tasks.retrieval_loss import in_batch_softmax_loss
from rec_jax.tasks.task import MetricSpec, Task, TrainingRows


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  temperature: float = 0.05           # logits = <query, candidate> / temperature
  log_q: bool = True                  # subtract each candidate's log sampling probability (Yi et al. 2019)
  remove_accidental_hits: bool = True  # a row's own item elsewhere in the batch is no negative
  num_negatives: int = 0              # extra negatives per step, drawn uniformly from the train items


def train_rows(train, opts: Options, model=None) -> TrainingRows:
  del model
  clicked = clicked_rows(train)
  return TrainingRows(clicked, negative_pool(clicked) if opts.num_negatives else None, opts.num_negatives)


def loss(model, batch, rng, opts: Options):
  """In-batch softmax over the batch's clicked items, with the batch's extra `negatives` as further columns."""
  del rng
  kwargs = {}
  negatives = batch.negatives
  if negatives is not None:
    kwargs = dict(negatives=model.candidate_vectors(negatives), negative_ids=negatives.item_id,
                  negative_log_q=negatives.item_log_q if opts.log_q else None)
  return in_batch_softmax_loss(
      model.query_vectors(batch), model.candidate_vectors(batch), batch.item_id, batch.weight,
      temperature=opts.temperature, log_q=batch.item_log_q if opts.log_q else None,
      remove_accidental_hits=opts.remove_accidental_hits, **kwargs)


METRICS = MetricSpec(table=("hit@10", "ndcg@10", "mrr@10", "hit@50", "hit@50/cold"),
                     progress=("hit@10", "ndcg@10", "ndcg@10/cold"), summary=("hit@10", "ndcg@10", "ndcg@10/cold"),
                     best="ndcg@10")

TASK = Task(loss=loss, evaluation=RANKING, metrics=METRICS, train_rows=train_rows,
            model_methods=("query_vectors", "candidate_vectors"))
