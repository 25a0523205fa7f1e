"""Evaluates a pointwise predictor on a split: CTR metrics (or rating errors) on all rows and on warm/cold item
slices, plus the oracle.

Metric names are lower-case `<metric>[@K][/<slice>]` (the README's workdir contract): `auc`, `gauc` (per
`rank_group`: user, or search session), `logloss`, `ndcg@10`, with slices after a slash (`auc/cold`), and the
synthetic shop's ceiling `oracle_auc` computed from the stored true click probabilities of the same rows. `ndcg@K`
ranks within each `rank_group` (data/features.py): a user's impressions, or a search session's results.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from rec_jax.batch import FeatureArrays, Rows
from rec_jax.data.pipeline import WHOLE, BatchShare, eval_batch_size, eval_batches
from rec_jax.evaluation import metrics
from rec_jax.progress import bar

SLICES: Dict[str, Callable[[Rows], np.ndarray]] = {
    "": lambda rows: np.ones(len(rows), dtype=bool),
    "warm": lambda rows: ~rows.item_is_cold,
    "cold": lambda rows: rows.item_is_cold,
}


def predict_split(predict_fn, arrays: FeatureArrays, batch_size: int, share: BatchShare = WHOLE) -> np.ndarray:
  """Predictions for every row of the split, in row order. `predict_fn`: this process's `share` of an evaluation
  batch (data/pipeline.py) -> the predictions of the whole batch (EvalContext.bind gathers them from every
  process). Padding rows, the tail of the last batch, are cut off."""
  out = []
  batch_size = eval_batch_size(len(arrays), batch_size, share.count * share.devices)
  for batch in bar(eval_batches(arrays, batch_size, share), total=-(-len(arrays) // batch_size), desc="eval",
                   unit="batch"):
    pred = np.asarray(predict_fn(batch))
    assert len(pred) == batch_size, (len(pred), batch_size)
    out.append(pred)
  return np.concatenate(out)[:len(arrays)] if out else np.zeros(0, np.float32)


def ctr_metrics(rows: Rows, probs: np.ndarray, ndcg_k: int) -> Dict[str, float]:
  result = {}
  for name, select in SLICES.items():
    mask = select(rows)
    suffix = f"/{name}" if name else ""
    y, p, groups = rows.label[mask], probs[mask], rows.rank_group[mask]
    result[f"num_rows{suffix}"] = int(mask.sum())
    if not mask.any():
      continue
    result[f"auc{suffix}"] = metrics.auc(y, p)
    result[f"gauc{suffix}"] = metrics.gauc(groups, y, p)
    result[f"logloss{suffix}"] = metrics.logloss(y, p)
    result[f"ndcg@{ndcg_k}{suffix}"] = metrics.ndcg_at_k(groups, y, p, ndcg_k)
    if rows.oracle is not None:
      oracle = rows.oracle[mask]
      result[f"oracle_auc{suffix}"] = metrics.auc(y, oracle)
      result[f"oracle_logloss{suffix}"] = metrics.logloss(y, oracle)
      result[f"oracle_ndcg@{ndcg_k}{suffix}"] = metrics.ndcg_at_k(groups, y, oracle, ndcg_k)
  return result


def rating_metrics(rows: Rows, predictions: np.ndarray) -> Dict[str, float]:
  """RMSE and MAE of predicted ratings (`label` holds the rating), on all rows and per item slice."""
  result = {}
  for name, select in SLICES.items():
    mask = select(rows)
    suffix = f"/{name}" if name else ""
    result[f"num_rows{suffix}"] = int(mask.sum())
    if mask.any():
      result[f"rmse{suffix}"] = metrics.rmse(rows.label[mask], predictions[mask])
      result[f"mae{suffix}"] = metrics.mae(rows.label[mask], predictions[mask])
  return result
