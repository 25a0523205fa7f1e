"""Evaluation protocols: how a trained model is measured on a split. A task names its protocol (`Task.evaluation`):
- `CTR`: predicted click probabilities -> auc, logloss, ndcg@K within rank groups, warm/cold slices, the oracle;
- `RATING`: predicted ratings -> rmse, mae, warm/cold slices;
- `RANKING`: query and candidate vectors -> ranking of the item catalogue, full or against sampled negatives
  (evaluation/full_ranking.py, `eval.ranking`), the negatives drawn once before training (`prepare`).
`Protocol.build(ctx)` gives `run(params, arrays) -> metrics` for an `EvalContext`; `Protocol.produces(name, eval)`
says whether a metric name is one it reports (checked before training: `checkpoint.best_metric`).

With many processes (rec_jax/distributed.py) every process runs the same evaluation batches, each feeding its
share of every batch; the jitted outputs are gathered to every process (`EvalContext.bind`), so the metrics, computed
on each host from the same predictions, are the same on every process and equal to a single process's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

from rec_jax import distributed, parallel
from rec_jax.batch import FeatureArrays
from rec_jax.config.checks import metric_pattern
from rec_jax.errors import UserError
from rec_jax.evaluation.full_ranking import RankingOptions, evaluate_ranking
from rec_jax.evaluation.negatives import attach_sampled_negatives
from rec_jax.evaluation.pointwise import ctr_metrics, predict_split, rating_metrics
from rec_jax.train_step import make_apply, make_predict

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
  def share(self):
    """This process's share of every evaluation batch (data/pipeline.py's BatchShare)."""
    return parallel.batch_share(self.mesh)

  def bind(self, jitted, params):
    """this process's share of a batch -> jitted(params, frozen, the global batch sharded over the mesh), whole on
    the host of every process."""
    return lambda batch: parallel.to_host(jitted(params, self.frozen, parallel.shard_batch(batch, self.mesh)))


def _no_preparation(eval_cfg, workdir: str, data) -> None:
  del eval_cfg, workdir, data


@dataclasses.dataclass(frozen=True)
class Protocol:
  """build: EvalContext -> Runner; prepare: (eval section, workdir, prepared data) -> None, run once before
  training on the data the evaluation needs beyond the splits."""
  build: Callable[[EvalContext], Runner]
  prepare: Callable[[Any, str, Any], None] = _no_preparation
  # eval section -> (metric bases, the K of the bases ending in '@'); every base also comes per /warm and /cold.
  names: Callable[[Any], Tuple[Tuple[str, ...], Tuple[int, ...]]] = lambda eval_cfg: ((), ())

  def produces(self, metric: str, eval_cfg) -> bool:
    bases, ks = self.names(eval_cfg)
    return metric_pattern(bases, ks).fullmatch(metric) is not None


def _ctr(ctx: EvalContext) -> Runner:
  predict = make_predict(ctx.graphdef, ctx.task, ctx.mesh)
  return lambda params, arrays: ctr_metrics(
      arrays.rows, predict_split(ctx.bind(predict, params), arrays, ctx.eval_cfg.batch_size, ctx.share),
      ctx.eval_cfg.ndcg_k)


def _rating(ctx: EvalContext) -> Runner:
  predict = make_predict(ctx.graphdef, ctx.task, ctx.mesh)
  return lambda params, arrays: rating_metrics(
      arrays.rows, predict_split(ctx.bind(predict, params), arrays, ctx.eval_cfg.batch_size, ctx.share))


def _ranking(ctx: EvalContext) -> Runner:
  if ctx.catalogue is None:
    raise UserError("the ranking protocol ranks the item catalogue, which the data did not provide")
  queries = make_apply(ctx.graphdef, "query_vectors", ctx.mesh)
  candidates = make_apply(ctx.graphdef, "candidate_vectors", ctx.mesh)
  cfg = ctx.eval_cfg
  options = RankingOptions.from_config(cfg.ranking, where="eval.ranking")
  return lambda params, arrays: evaluate_ranking(
      ctx.bind(queries, params), ctx.bind(candidates, params), arrays, ctx.catalogue, cfg.batch_size, cfg.ks,
      options, ctx.share)


def _sampled_negatives(eval_cfg, workdir: str, data) -> None:
  """With `eval.ranking.candidates=sampled`, each evaluation query's negatives, drawn once and saved (by process 0
  first when there are many: the others read its file)."""
  ranking = RankingOptions.from_config(eval_cfg.ranking, where="eval.ranking")
  if ranking.candidates == "sampled":
    distributed.primary_first(
        lambda: attach_sampled_negatives(ranking, workdir, data, [eval_cfg.split, eval_cfg.final_split]),
        "drawing the evaluation negatives")


CTR = Protocol(build=_ctr, names=lambda cfg: (
    ("auc", "gauc", "logloss", "ndcg@", "oracle_auc", "oracle_logloss", "oracle_ndcg@", "num_rows"), (cfg.ndcg_k,)))
RATING = Protocol(build=_rating, names=lambda cfg: (("rmse", "mae", "num_rows"), ()))
RANKING = Protocol(build=_ranking, prepare=_sampled_negatives, names=lambda cfg: (
    ("hit@", "recall@", "ndcg@", "mrr@", "num_queries", "num_candidates"), tuple(cfg.ks)))


def make_evaluator(ctx: EvalContext) -> Runner:
  return ctx.task.evaluation.build(ctx)
