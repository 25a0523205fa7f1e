"""Ranking evaluation of the ranking tasks (retrieval, next_item): each query (evaluation/ranking_queries.py) ranks
the whole item catalogue (data/catalogue.py, new items included) or, with `eval.ranking.candidates=sampled`, its
relevant item against the negatives drawn once for it (evaluation/negatives.py).

Metrics: `hit@K`, `recall@K`, `ndcg@K`, `mrr@K` for `eval.ks`, on all queries and on `/warm` and `/cold` relevant
items: a slice keeps the relevant items of that kind and removes the query's other relevant items from its
ranking, so they neither help nor hurt (with one relevant item per query: the queries whose item is of that kind).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rec_jax.batch import OOV, PAD, FeatureArrays
from rec_jax.data.pipeline import WHOLE, BatchShare, eval_indices, gather
from rec_jax.errors import UserError
from rec_jax.evaluation.pointwise import predict_split
from rec_jax.evaluation.ranking import multi_relevance_metrics, positions_to_flags, relevant_positions, target_ranks
from rec_jax.evaluation.ranking_queries import check_exclusion, ranking_queries
from rec_jax.options import Options

CANDIDATES = ("full", "sampled")
# Queries of one scoring block are capped so its [queries, relevant, catalogue] comparisons stay near this size.
BLOCK_ELEMENTS = 1 << 24


@dataclasses.dataclass(frozen=True)
class RankingOptions(Options):
  """The `eval.ranking` section: what each query ranks (`candidates` full: the whole catalogue | sampled: its
  relevant item against `num_negatives` drawn once by `sampler` uniform | popularity from `negative_seed`, see
  evaluation/negatives.py), what a query is (`unit`, evaluation/ranking_queries.py) and what leaves its ranking
  (`exclude`)."""
  candidates: str = "full"
  unit: str = "interaction"
  exclude: str = "history"
  num_negatives: int = 100
  sampler: str = "uniform"
  negative_seed: int = 0

  def __post_init__(self):
    check_exclusion(self.exclude)
    if self.candidates not in CANDIDATES:
      raise UserError(f"eval.ranking.candidates={self.candidates!r}; valid: {', '.join(CANDIDATES)}")
    if self.candidates == "sampled" and self.unit != "interaction":
      raise UserError("eval.ranking.candidates=sampled ranks one relevant item against its negatives: it needs "
                      "eval.ranking.unit=interaction")


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


def history_exclusion_index(history: np.ndarray, catalogue_ids: np.ndarray) -> np.ndarray:
  """history_exclusions as catalogue indices [rows, length] int32, -1 where nothing is excluded."""
  slot = np.full(max(int(catalogue_ids.max()), int(history.max()), OOV) + 1, -1, np.int64)
  known = catalogue_ids > OOV
  slot[catalogue_ids[known]] = np.flatnonzero(known)
  return slot[history].astype(np.int32)


def _exclusion_index(arrays: FeatureArrays, rows: np.ndarray, catalogue: FeatureArrays, exclude: str,
                     width: int) -> np.ndarray:
  """The excluded catalogue indices of `rows` [len(rows), width], -1 padded (the device path's exclusions)."""
  if exclude == "history":
    index = history_exclusion_index(arrays.rows.history[rows], catalogue.rows.item_id)
    return np.pad(index, ((0, 0), (0, width - index.shape[1])), constant_values=-1)
  if exclude == "seen":
    return arrays.seen.padded(arrays.rows.user_key[rows], width)
  return np.full((len(rows), width), -1, np.int32)


def _exclusion_width(arrays: FeatureArrays, rows: np.ndarray, exclude: str) -> int:
  """The widest exclusion list of `rows`, rounded up to a power of two (few shapes to compile)."""
  if exclude == "history":
    widest = arrays.rows.history.shape[1]
  elif exclude == "seen":
    widest = int(arrays.seen.sizes()[arrays.rows.user_key[rows]].max(initial=0))
  else:
    widest = 0
  return 1 << int(np.ceil(np.log2(max(widest, 1))))


@jax.jit
def _single_positions(vectors, candidates, relevant, excluded):
  """Position of each query's one relevant item [n, 1] in its ranking of the catalogue: vectors [n, d] against
  candidates [M, d], excluded [n, E] catalogue indices (-1: none; repeats allowed). relevant_positions's rule
  (excluded items other than the relevant one leave the ranking, NaN ranks as -inf, ties count against the model)
  without a dense [n, M] exclusion mask: the items scoring at least the target's, minus the distinct excluded ones
  among them (gathered, [n, E])."""
  scores = vectors @ candidates.T
  scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
  key = relevant[:, 0]
  target = jnp.take_along_axis(scores, jnp.maximum(key, 0)[:, None], axis=1)
  ahead = jnp.sum(scores >= target, axis=1, dtype=jnp.int32) - 1   # every item scoring >= it but itself
  excluded = jnp.sort(excluded, axis=1)
  distinct = jnp.concatenate([jnp.ones_like(excluded[:, :1], bool), excluded[:, 1:] != excluded[:, :-1]], axis=1)
  counted = distinct & (excluded >= 0) & (excluded != key[:, None])
  excluded_scores = jnp.take_along_axis(scores, jnp.maximum(excluded, 0), axis=1)
  ahead -= jnp.sum(counted & (excluded_scores >= target), axis=1, dtype=jnp.int32)
  return jnp.where(key >= 0, ahead, scores.shape[1])[:, None]


def _exclusions(arrays: FeatureArrays, rows: np.ndarray, catalogue: FeatureArrays, exclude: str) -> np.ndarray:
  num_items = len(catalogue)
  if exclude == "history":
    return history_exclusions(arrays.rows.history[rows], catalogue.rows.item_id)
  if exclude == "seen":
    if arrays.seen is None:
      raise UserError("eval.ranking.exclude=seen needs each user's items of the earlier splits (data/prepare.py)")
    return arrays.seen.dense(arrays.rows.user_key[rows], num_items)
  return np.zeros((len(rows), num_items), bool)


def _slices(catalogue: FeatureArrays) -> Dict[str, np.ndarray]:
  cold = np.asarray(catalogue.rows.item_is_cold, bool)
  return {"": np.ones(len(cold), bool), "warm": ~cold, "cold": cold}


def _relevant_keys(queries, rows: np.ndarray, width: int) -> np.ndarray:
  """[len(rows), width] catalogue keys of each query's relevant items, -1 padded."""
  out = np.full((len(rows), width), -1, np.int32)
  for r, q in enumerate(rows):
    items = queries.relevant.items(int(q))
    out[r, :len(items)] = items
  return out


def _full(vectors, candidates, arrays, queries, catalogue, exclude, ks, batch_size):
  """Per slice: (flags [queries, max k], relevant counts [queries]) of the full-catalogue ranking."""
  num_items, k = len(candidates), max(ks)
  slices = _slices(catalogue)
  sizes = queries.relevant.sizes()
  # Queries are ranked in groups of equal padded width (powers of two: few shapes to compile), so a user with
  # hundreds of relevant items does not widen everyone's comparisons.
  widths = 1 << np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
  parts = {name: [] for name in slices}
  order = []
  if (widths == 1).any():   # One relevant item per query (leave-one-out): scored and ranked on the device.
    members = np.flatnonzero(widths == 1)
    block = max(1, min(batch_size, BLOCK_ELEMENTS // max(num_items, 1)))
    device_candidates = jnp.asarray(candidates)
    for start in range(0, len(members), block):
      q = members[start:start + block]
      padded = np.concatenate([q, np.full(block - len(q), q[0])])
      keys = _relevant_keys(queries, padded, 1)
      rows = queries.rows[padded]
      excluded = _exclusion_index(arrays, rows, catalogue, exclude, _exclusion_width(arrays, rows, exclude))
      pos = np.asarray(_single_positions(jnp.asarray(vectors[padded]), device_candidates, keys, excluded))
      for name, kind in slices.items():
        parts[name].append(np.where(kind[np.maximum(keys, 0)] & (keys >= 0), pos, num_items)[:len(q)])
      order.append(q)
  for width in np.unique(widths[widths > 1]):
    members = np.flatnonzero(widths == width)
    block = max(1, min(batch_size, BLOCK_ELEMENTS // (max(num_items, 1) * int(width))))
    for start in range(0, len(members), block):
      q = members[start:start + block]
      padded = np.concatenate([q, np.full(block - len(q), q[0])])   # one shape per width
      for name, pos in _rank_block(vectors[padded] @ candidates.T, _relevant_keys(queries, padded, int(width)),
                                   _exclusions(arrays, queries.rows[padded], catalogue, exclude), slices).items():
        parts[name].append(pos[:len(q)])
      order.append(q)
  order = np.concatenate(order)
  out = {}
  for name in slices:
    flags = np.zeros((len(sizes), k), bool)
    counts = np.zeros(len(sizes), np.int64)
    for q, pos in zip(np.split(order, np.cumsum([len(p) for p in parts[name]])[:-1]), parts[name]):
      flags[q] = positions_to_flags(pos, k)
      counts[q] = (pos < num_items).sum(axis=1)
    out[name] = (flags, counts)
  return out


def _rank_block(scores, keys, excluded, slices) -> Dict[str, np.ndarray]:
  """Per slice: the positions [block, width] of the block's relevant items of that slice's kind (others: M)."""
  num_items = scores.shape[1]
  if keys.shape[1] == 1:   # one relevant item per query: a slice is the queries whose item is of its kind
    pos = np.asarray(relevant_positions(scores, keys, excluded))
    return {name: np.where(kind[np.maximum(keys, 0)] & (keys >= 0), pos, num_items) for name, kind in slices.items()}
  out = {}
  rows, cols = np.nonzero(keys >= 0)
  for name, kind in slices.items():
    # The query's relevant items of the other kind leave its ranking: they neither help nor hurt.
    other = np.zeros_like(excluded)
    other[rows, keys[rows, cols]] = ~kind[keys[rows, cols]]
    kept = np.where((keys >= 0) & kind[np.maximum(keys, 0)], keys, -1)
    out[name] = np.asarray(relevant_positions(scores, kept, excluded | other))
  return out


def _sampled(vectors, candidates, arrays, queries, catalogue, ks):
  """Per slice: (flags, relevant counts) of each relevant item ranked against its saved negatives."""
  if arrays.negatives is None:
    raise UserError("eval.ranking.candidates=sampled needs the split's negatives (evaluation/negatives.py draws "
                    "them before training)")
  negatives = arrays.negatives
  targets = arrays.rows.item_key[queries.rows]
  if len(negatives) != len(targets):
    raise UserError(f"{len(negatives)} sets of negatives for {len(targets)} queries")
  keys = np.concatenate([targets[:, None], negatives], axis=1)
  ranks = []
  for start in range(0, len(keys), 4096):
    block = keys[start:start + 4096]
    scores = np.einsum("qd,qcd->qc", vectors[start:start + 4096], candidates[np.maximum(block, 0)])
    ranks.append(np.asarray(target_ranks(scores, np.zeros(len(block), np.int32), block < 0)))
  ranks = np.concatenate(ranks)
  k = max(ks)
  flags = ranks[:, None] == np.arange(k)[None, :]
  cold = np.asarray(catalogue.rows.item_is_cold, bool)[targets]
  ones = np.ones(len(ranks), np.int64)
  return {"": (flags, ones), "warm": (flags[~cold], ones[~cold]), "cold": (flags[cold], ones[cold])}


def query_vectors(query_fn, rows: FeatureArrays, batch_size: int, share: BatchShare = WHOLE) -> np.ndarray:
  """query_fn's vectors for every row, in row order, computed in batches of similar history length, each batch's
  histories cut after its longest one (rounded up to a power of two: few shapes to compile). Histories are
  left-aligned and the encoders never attend to padding, so the cut changes no vector; it saves most of the
  encoder's work on short histories (an Amazon category's users average under 10 of 50 positions). `query_fn`:
  this process's `share` of a batch -> the whole batch's vectors (predict_split); the cut is the whole batch's,
  one shape on every process."""
  lengths = np.sum(rows.rows.history != PAD, axis=1)
  order = np.argsort(lengths, kind="stable")
  ordered, ordered_lengths = rows.select(order), lengths[order]
  out, width = [], rows.rows.history.shape[1]
  for index, weight in eval_indices(len(ordered), batch_size, share.count * share.devices):
    longest = int(ordered_lengths[index].max(initial=0))
    cut = min(width, 1 << int(np.ceil(np.log2(max(longest, 1)))))
    batch = gather(ordered, index, weight, share)
    out.append(np.asarray(query_fn(batch.replace(history=batch.history[:, :cut]))))
  vectors = np.zeros((len(rows),) + out[0].shape[1:], np.float32) if out else np.zeros((0, 1), np.float32)
  if out:
    vectors[order] = np.concatenate(out)[:len(rows)]
  return vectors


def evaluate_ranking(query_fn, candidate_fn, arrays: FeatureArrays, catalogue: FeatureArrays, batch_size: int,
                     ks: Sequence[int], options: RankingOptions = RankingOptions(),
                     share: BatchShare = WHOLE) -> Dict[str, float]:
  """query_fn / candidate_fn: batch -> [batch, dim] vectors (score = their dot product) of the whole batch, given
  this process's `share` of it (data/pipeline.py; EvalContext.bind gathers the vectors from every process). The
  ranking itself runs on each process's host and local device, on the same vectors: every process gets the same
  metrics."""
  candidates = predict_split(candidate_fn, catalogue, batch_size, share).astype(np.float32)
  queries = ranking_queries(arrays.rows, options.unit)
  query_rows = FeatureArrays(arrays.rows.take(queries.rows), arrays.texts)
  vectors = query_vectors(query_fn, query_rows, batch_size, share)
  result = {"num_candidates": len(candidates)}
  if not len(queries.rows):
    return {**result, "num_queries": 0}
  if options.candidates == "sampled":
    per_slice = _sampled(vectors, candidates, arrays, queries, catalogue, ks)
    result["num_candidates"] = 1 + arrays.negatives.shape[1]   # per query: its item + the negatives
  else:
    per_slice = _full(vectors, candidates, arrays, queries, catalogue, options.exclude, ks, batch_size)
  for name, (flags, counts) in per_slice.items():
    suffix = f"/{name}" if name else ""
    keep = counts > 0
    result[f"num_queries{suffix}"] = int(keep.sum())
    result.update({f"{k}{suffix}": v for k, v in
                   multi_relevance_metrics(flags[keep], counts[keep], ks).items()})
  return result
