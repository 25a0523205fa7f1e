"""Evaluation protocols, keyed by a task's `protocol` (models/tasks.py): how a trained model is measured on a split.

Each entry builds `run(params, arrays) -> metrics` from an `EvalContext`:
- `ctr`: predicted click probabilities -> auc, logloss, ndcg@K within rank groups, warm/cold slices, the oracle;
- `rating`: predicted ratings -> rmse, mae, warm/cold slices;
- `ranking`: query and candidate vectors -> ranking of the item catalogue, full or against sampled negatives
  (evaluation/full_ranking.py, `eval.ranking`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

from rec_jax import parallel
from rec_jax.data.features import FeatureArrays
from rec_jax.evaluation.evaluator import ctr_metrics, predict_split, rating_metrics
from rec_jax.evaluation.full_ranking import RankingOptions, evaluate_ranking
from rec_jax.registry import Registry
from rec_jax.train_step import device_inputs, make_apply, make_predict

PROTOCOLS: Registry = Registry("evaluation protocol")
Runner = Callable[[Any, FeatureArrays], Dict[str, float]]


@dataclasses.dataclass
class EvalContext:
  graphdef: Any
  frozen: Any
  mesh: Any
  task: Any
  eval_cfg: Any   # the config's `eval` section
  catalogue: Optional[FeatureArrays] = None

  @property
  def shards(self) -> int:
    return parallel.local_data_shards(self.mesh)

  def bind(self, jitted, params):
    """batch -> jitted(params, frozen, the batch's device inputs sharded over the mesh)."""
    return lambda batch: jitted(params, self.frozen, parallel.shard_batch(device_inputs(batch), self.mesh))


def make_evaluator(ctx: EvalContext) -> Runner:
  return PROTOCOLS.get(ctx.task.protocol)(ctx)


@PROTOCOLS.register("ctr")
def _ctr(ctx: EvalContext) -> Runner:
  predict = make_predict(ctx.graphdef, ctx.task, ctx.mesh)
  return lambda params, arrays: ctr_metrics(
      arrays.rows, predict_split(ctx.bind(predict, params), arrays, ctx.eval_cfg.batch_size, ctx.shards),
      ctx.eval_cfg.ndcg_k)


@PROTOCOLS.register("rating")
def _rating(ctx: EvalContext) -> Runner:
  predict = make_predict(ctx.graphdef, ctx.task, ctx.mesh)
  return lambda params, arrays: rating_metrics(
      arrays.rows, predict_split(ctx.bind(predict, params), arrays, ctx.eval_cfg.batch_size, ctx.shards))


@PROTOCOLS.register("ranking")
def _ranking(ctx: EvalContext) -> Runner:
  if ctx.catalogue is None:
    raise ValueError(f"the {ctx.task.protocol} protocol ranks the item catalogue, which the data did not provide")
  queries = make_apply(ctx.graphdef, "query_vectors", ctx.mesh)
  candidates = make_apply(ctx.graphdef, "candidate_vectors", ctx.mesh)
  cfg = ctx.eval_cfg
  options = RankingOptions.from_config(cfg)
  return lambda params, arrays: evaluate_ranking(
      ctx.bind(queries, params), ctx.bind(candidates, params), arrays, ctx.catalogue, cfg.batch_size, cfg.ks,
      options, ctx.shards)
