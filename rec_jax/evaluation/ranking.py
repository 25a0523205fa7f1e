"""Full-ranking metrics: the rank of each query's true item among all candidates, then hit@k, ndcg@k and mrr@k."""

from __future__ import annotations

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
