"""Full-ranking metrics: the rank of each query's true item among all candidates, then hit@k, ndcg@k and mrr@k."""

from __future__ import annotations

import functools
from typing import Dict, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def target_ranks(scores, target, exclude=None) -> jnp.ndarray:
  """0-based rank [n] (int32) of candidate target[i] in row i of scores [n, M]; exclude [n, M] bool or None.

  The rank counts the non-excluded candidates that score higher or equal (ties are pessimistic: a model that gives
  many items the same score, e.g. every new item the shared OOV id's vector, gets no credit for the tie; breaking
  ties by index would hand it hits by catalogue order). Excluded candidates (e.g. the user's history) are
  removed from the ranking, but the target is never excluded. A NaN score ranks as -inf, so a diverged model cannot
  score a perfect rank by NaN comparisons being false. Accepts numpy or jax arrays; jitted.
  """
  scores = jnp.asarray(scores)
  target = jnp.asarray(target)
  if scores.ndim != 2 or target.shape != scores.shape[:1]:
    raise ValueError(f"expected scores [n, M] and target [n], got {scores.shape} and {target.shape}")
  if exclude is not None and jnp.shape(exclude) != scores.shape:
    raise ValueError(f"exclude must have the shape of scores {scores.shape}, got {jnp.shape(exclude)}")
  scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
  target_score = jnp.take_along_axis(scores, target[:, None], axis=1)
  index = jnp.arange(scores.shape[1])[None, :]
  ahead = (scores >= target_score) & (index != target[:, None])
  if exclude is not None:
    ahead = ahead & ~jnp.asarray(exclude, bool)  # The target is never `ahead` of itself, so it stays ranked.
  return jnp.sum(ahead, axis=1, dtype=jnp.int32)


def ranking_metrics(ranks, ks: Iterable[int], mask: Optional[np.ndarray] = None) -> Dict[str, float]:
  """hit@k, ndcg@k and mrr@k for each k, means over the rows of ranks [n] (0-based) selected by mask [n] bool.

  One relevant item per query: ndcg@k = 1 / log2(rank + 2) and mrr@k = 1 / (rank + 1) when rank < k, else 0.
  An empty selection gives NaN for every metric.
  """
  ranks = np.asarray(ranks, dtype=np.float64)
  if mask is not None:
    ranks = ranks[np.asarray(mask, dtype=bool)]
  result = {}
  for k in ks:
    hit = ranks < k
    for name, gain in (("hit", np.ones_like(ranks)), ("ndcg", 1.0 / np.log2(ranks + 2)), ("mrr", 1.0 / (ranks + 1))):
      result[f"{name}@{k}"] = float(np.mean(np.where(hit, gain, 0.0))) if len(ranks) else float("nan")
  return result


@functools.partial(jax.jit, static_argnames="k")
def top_k_relevance(scores, relevant, exclude, k: int) -> jnp.ndarray:
  """[n, k] bool: whether the item at each of the top k positions of each row's ranking is relevant.

  scores [n, M]; relevant, exclude [n, M] bool. Excluded items (that are not relevant) leave the ranking, NaN
  scores rank as -inf, and ties are pessimistic: among equal scores, irrelevant items rank first (relevant ones
  among themselves by index). With one relevant item per row this is the ranking of `target_ranks`.
  """
  scores = jnp.where(jnp.isnan(scores), -jnp.inf, jnp.asarray(scores, jnp.float32))
  relevant = jnp.asarray(relevant, bool)
  gone = (jnp.asarray(exclude, bool) & ~relevant).astype(jnp.int8)
  keys = (gone, -scores, relevant.astype(jnp.int8))
  _, _, flags = jax.lax.sort(keys, dimension=1, is_stable=True, num_keys=3)
  return flags[:, :k].astype(bool)


def multi_relevance_metrics(flags: np.ndarray, num_relevant: np.ndarray, ks: Iterable[int],
                            mask: Optional[np.ndarray] = None) -> Dict[str, float]:
  """hit@k (any relevant in the top k), recall@k (share of the relevant items in the top k, RecBole's
  definition), ndcg@k (binary gains, ideal DCG of min(relevant, k) items) and mrr@k (first relevant), means over
  the rows selected by `mask`; flags [n, >= max k] from `top_k_relevance`, num_relevant [n] > 0."""
  flags = np.asarray(flags, bool)
  num_relevant = np.asarray(num_relevant, np.float64)
  if mask is not None:
    flags, num_relevant = flags[np.asarray(mask, bool)], num_relevant[np.asarray(mask, bool)]
  result = {}
  for k in ks:
    top = flags[:, :k]
    discounts = 1.0 / np.log2(np.arange(k) + 2)
    ideal = np.cumsum(discounts)[np.minimum(num_relevant, k).astype(int) - 1] if len(top) else np.zeros(0)
    first = np.where(top.any(axis=1), np.argmax(top, axis=1), k)
    values = {"hit": top.any(axis=1), "recall": top.sum(axis=1) / np.maximum(num_relevant, 1),
              "ndcg": (top * discounts).sum(axis=1) / np.maximum(ideal, 1e-12),
              "mrr": np.where(first < k, 1.0 / (first + 1), 0.0)}
    for name, v in values.items():
      result[f"{name}@{k}"] = float(np.mean(v)) if len(top) else float("nan")
  return result
