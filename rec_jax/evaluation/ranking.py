"""Full-ranking metrics: the rank of each query's true item among all candidates, then hit@k, ndcg@k and mrr@k."""

from __future__ import annotations

from typing import Dict, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from rec_jax.errors import UserError


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
    raise UserError(f"expected scores [n, M] and target [n], got {scores.shape} and {target.shape}")
  if exclude is not None and jnp.shape(exclude) != scores.shape:
    raise UserError(f"exclude must have the shape of scores {scores.shape}, got {jnp.shape(exclude)}")
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


@jax.jit
def relevant_positions(scores, relevant, exclude) -> jnp.ndarray:
  """0-based position [n, R] (int32) of each relevant item relevant[i, r] (catalogue index, -1 = padding, which
  gets position M) in row i's ranking of scores [n, M]; exclude [n, M] bool.

  Excluded items that are not relevant leave the ranking, NaN scores rank as -inf, and ties are pessimistic:
  among equal scores every irrelevant item ranks first, relevant ones among themselves by index, so the relevant
  items' positions are distinct. With one relevant item per row the position is `target_ranks`'s rank. Counts
  [n, R, M] comparisons (no sort: sorting is ~200x slower on XLA:CPU), so callers keep n * R * M bounded.
  """
  scores = jnp.where(jnp.isnan(scores), -jnp.inf, jnp.asarray(scores, jnp.float32))
  relevant = jnp.asarray(relevant, jnp.int32)
  n, m = scores.shape
  real = relevant >= 0
  key = jnp.where(real, relevant, 0)
  is_relevant = jnp.zeros((n, m), bool).at[jnp.arange(n)[:, None], key].max(real)
  stays = ~(jnp.asarray(exclude, bool) & ~is_relevant)
  target = jnp.take_along_axis(scores, key, axis=1)[:, :, None]          # [n, R, 1]
  index = jnp.arange(m)[None, None, :]
  other = scores[:, None, :]
  tie_ahead = ~is_relevant[:, None, :] | (index < key[:, :, None])
  ahead = stays[:, None, :] & (index != key[:, :, None]) & ((other > target) | ((other == target) & tie_ahead))
  return jnp.where(real, jnp.sum(ahead, axis=2, dtype=jnp.int32), m)


def positions_to_flags(positions: np.ndarray, k: int) -> np.ndarray:
  """[n, k] bool: whether position p of each row's ranking holds a relevant item (positions [n, R] distinct)."""
  positions = np.asarray(positions)
  flags = np.zeros((len(positions), k), bool)
  rows, cols = np.nonzero(positions < k)
  flags[rows, positions[rows, cols]] = True
  return flags


def multi_relevance_metrics(flags: np.ndarray, num_relevant: np.ndarray, ks: Iterable[int],
                            mask: Optional[np.ndarray] = None) -> Dict[str, float]:
  """hit@k (any relevant in the top k), recall@k (share of the relevant items in the top k, RecBole's
  definition), ndcg@k (binary gains, ideal DCG of min(relevant, k) items) and mrr@k (first relevant), means over
  the rows selected by `mask`; flags [n, >= max k] from `positions_to_flags`, num_relevant [n] > 0."""
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
