"""Tasks, keyed by the config's `task`: what a model is trained to do (its loss) and how it is evaluated.

A task's loss reads the model itself, so each task asks the model for what it needs:
- pointwise tasks (`ctr`, `search`, `rating`) score each row: `model(batch) -> [batch]`;
- ranking tasks (`retrieval`, `next_item`) need a query side and a candidate side: `model.query_vectors(batch)`
  and `model.candidate_vectors(batch)` ([batch, dim] each), and `next_item` also the model's sequence objective
  (`model.next_item_targets`, models/cf/sequential.py) and its item table;
and `Task.check` names the missing method before any data is read. `protocol` names the evaluation
(rec_jax/evaluation/protocols.py): CTR metrics, rating errors, or full ranking over the item catalogue.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Tuple

import jax
import jax.numpy as jnp
import optax

from rec_jax.models.cf.next_item_loss import next_item_loss
from rec_jax.models.cf.retrieval_loss import in_batch_softmax_loss
from rec_jax.data.pipeline import NEGATIVE_PREFIX
from rec_jax.registry import Registry

TASKS: Registry = Registry("task")


@dataclasses.dataclass(frozen=True)
class Task:
  # (model, batch, rng, options) -> scalar; `options` is the config section `task_options`.
  loss: Callable
  protocol: str   # rec_jax/evaluation/protocols.py
  score: Callable = None   # (model, batch) -> [batch] predictions, for pointwise protocols
  requires: Tuple[str, ...] = ()   # `features` keys that must be set (non-empty) for this task
  model_methods: Tuple[str, ...] = ()   # what the model must provide besides __call__
  train_on_positives: bool = False   # ranking tasks learn from clicked rows only
  centre_labels: bool = False   # rating: models add the train mean of the label to their output
  negative_rows: bool = False   # extra negatives (`task_options.num_negatives`) are rows carried in the batch

  def check(self, config) -> None:
    missing = [k for k in self.requires if not config.features.get(k, "")]
    if missing:
      raise ValueError(f"task={config.task!r} needs " + ", ".join(f"features.{k}" for k in missing)
                       + " (the column holding it)")

  def check_model(self, config, model) -> None:
    missing = [m for m in self.model_methods if not callable(getattr(model, m, None))]
    if missing:
      raise ValueError(f"task={config.task!r} needs a model with {', '.join(missing)}; model.name="
                       f"{config.model.name!r} has none (ranking models: two_tower, sequential, popularity)")


def _weighted_mean(losses, weights):
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def _bce_loss(model, batch, rng, options):
  """Mean sigmoid cross-entropy over real rows (weight 0 rows are padding)."""
  del rng, options
  return _weighted_mean(optax.sigmoid_binary_cross_entropy(model(batch), batch["label"]), batch["weight"])


def _squared_error_loss(model, batch, rng, options):
  del rng, options
  return _weighted_mean(jnp.square(model(batch) - batch["label"]), batch["weight"])


def _retrieval_loss(model, batch, rng, options):
  """In-batch softmax over the batch's clicked items (Yi et al. 2019): logQ-corrected by each item's share of the
  train clicks (`item_log_q`, see data/pipeline.py), accidental hits removed, and, with
  `task_options.num_negatives`, extra items drawn uniformly from the train catalogue (the batch's `neg/` rows)."""
  del rng
  use_log_q = options.get("log_q", True)
  kwargs = {}
  negatives = {k[len(NEGATIVE_PREFIX):]: v for k, v in batch.items() if k.startswith(NEGATIVE_PREFIX)}
  if negatives:
    kwargs = dict(negatives=model.candidate_vectors(negatives), negative_ids=negatives["item_id"],
                  negative_log_q=negatives["item_log_q"] if use_log_q else None)
  return in_batch_softmax_loss(
      model.query_vectors(batch), model.candidate_vectors(batch), batch["item_id"], batch["weight"],
      temperature=options.get("temperature", 1.0), log_q=batch["item_log_q"] if use_log_q else None,
      remove_accidental_hits=options.get("remove_accidental_hits", True), **kwargs)


def _next_item_loss(model, batch, rng, options):
  """The model's sequence objective (SASRec: every position predicts the next item; BERT4Rec: masked items; else
  the history predicts the row's item), scored by full softmax over the item table or `num_negatives` samples."""
  target_rng, negative_rng = jax.random.split(rng)
  states, targets, weights = model.next_item_targets(batch, target_rng, options)
  return next_item_loss(states, targets, weights * batch["weight"][:, None], model.item_table(), negative_rng,
                        num_negatives=options.get("num_negatives", 0))


TASKS.register("ctr")(Task(loss=_bce_loss, protocol="ctr", score=lambda m, b: jax.nn.sigmoid(m(b))))
# Search: a user's query and the results shown for it; a click is scored from the query, the item and the user
# (the hybrid reads the query through `features.query`, see models/hybrid.py). Pointwise BCE, as learning-to-rank
# from clicks commonly starts; ndcg@K ranks within each session (`features.rank_group`).
TASKS.register("search")(Task(loss=_bce_loss, protocol="ctr", score=lambda m, b: jax.nn.sigmoid(m(b)),
                              requires=("query",)))
# Rating regression (explicit feedback, `features.label` = the rating column): squared error; models predict
# mean + biases + interactions (their output plus the train mean of the label, `centre_labels`).
TASKS.register("rating")(Task(loss=_squared_error_loss, protocol="rating", score=lambda m, b: m(b),
                              centre_labels=True))
# Two-tower retrieval from clicks; evaluated by ranking the whole item catalogue for each test click.
TASKS.register("retrieval")(Task(loss=_retrieval_loss, protocol="ranking", train_on_positives=True,
                                 negative_rows=True,
                                 model_methods=("query_vectors", "candidate_vectors")))
# Next-item prediction from the click sequence (SASRec, BERT4Rec, ...): full or sampled softmax over the items.
TASKS.register("next_item")(Task(loss=_next_item_loss, protocol="ranking", train_on_positives=True,
                                 model_methods=("query_vectors", "candidate_vectors", "next_item_targets",
                                                "item_table")))
