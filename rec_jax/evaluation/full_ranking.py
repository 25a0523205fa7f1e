"""Full-ranking evaluation of the ranking tasks (retrieval, next_item): every click of a split is a query whose true
item is ranked against the whole item catalogue (data/catalogue.py), new items included.

Items already in the query's history are removed from its ranking (the SASRec protocol draws its negatives from
items the user has not interacted with; this is its full-catalogue form), except the true item itself, so a
repeated purchase still counts. Metrics: `hit@K`, `ndcg@K`, `mrr@K` (one true item per query, so recall@K equals
hit@K), on all queries and on warm/cold true items (`/warm`, `/cold`).
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from rec_jax.data.features import FeatureArrays
from rec_jax.data.vocab import OOV
from rec_jax.evaluation.evaluator import SLICES, predict_split
from rec_jax.evaluation.ranking import ranking_metrics, target_ranks


def history_exclusions(history: np.ndarray, catalogue_ids: np.ndarray) -> np.ndarray:
  """[rows, catalogue] bool: catalogue items whose id is in the row's history. Ids PAD and OOV never exclude (all
  new items share OOV; a history item unknown to the vocabulary cannot be matched to one of them)."""
  slot = np.full(max(int(catalogue_ids.max()), int(history.max()), OOV) + 1, -1, np.int64)
  known = catalogue_ids > OOV
  slot[catalogue_ids[known]] = np.flatnonzero(known)
  hit = slot[history]
  rows = np.broadcast_to(np.arange(len(history))[:, None], hit.shape)
  out = np.zeros((len(history), len(catalogue_ids)), bool)
  out[rows[hit >= 0], hit[hit >= 0]] = True
  return out


def evaluate_ranking(query_fn, candidate_fn, arrays: FeatureArrays, catalogue: FeatureArrays, batch_size: int,
                     ks: Sequence[int], exclude_history: bool = True, shards: int = 1) -> Dict[str, float]:
  """query_fn / candidate_fn: batch -> [batch, dim] vectors (score = their dot product); `shards`: the devices
  batches are split over (data/pipeline.py)."""
  candidates = predict_split(candidate_fn, catalogue, batch_size, shards).astype(np.float32)
  clicked = arrays.rows["label"] > 0
  queries = FeatureArrays({k: v[clicked] for k, v in arrays.rows.items()}, arrays.texts)
  vectors = predict_split(query_fn, queries, batch_size, shards).astype(np.float32)
  ranks = []
  for start in range(0, len(queries), batch_size):
    # Every block is padded to batch_size rows (repeats of its first row), so target_ranks compiles once.
    rows = np.arange(start, min(start + batch_size, len(queries)))
    padded = np.concatenate([rows, np.full(batch_size - len(rows), rows[0])])
    exclude = (history_exclusions(queries.rows["history"][padded], catalogue.rows["item_id"])
               if exclude_history else None)
    block = target_ranks(vectors[padded] @ candidates.T, queries.rows["item_key"][padded], exclude)
    ranks.append(np.asarray(block)[:len(rows)])
  ranks = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
  result = {}
  for name, select in SLICES.items():
    mask = select(queries.rows)
    suffix = f"/{name}" if name else ""
    result[f"num_queries{suffix}"] = int(mask.sum())
    result.update({f"{k}{suffix}": v for k, v in ranking_metrics(ranks, ks, mask).items()})
  result["num_candidates"] = len(candidates)
  return result
