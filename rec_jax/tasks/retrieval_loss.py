"""Two-tower retrieval loss: softmax over in-batch (and optional extra) negatives with the logQ correction.

Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations" (RecSys 2019). A batch's
candidates are a popularity-biased sample of the corpus; subtracting each column's log sampling probability from its
logit makes the sampled softmax an estimate of the full one instead of one that over-penalises popular items.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from rec_jax.errors import UserError

# Finite, so a fully masked row (or a masked column times zero) never yields NaN; far below any real logit.
MASKED_LOGIT = -1e9


def log_sampling_probability(item_counts, item_ids, *, min_count: float = 1.0) -> jnp.ndarray:
  """log(count / total) of each id in item_ids (any shape) from a per-item count table item_counts [num_items].

  Counts are floored at `min_count` (default 1: an item never seen is treated as seen once, so its log q is
  log(1 / total) rather than -inf); total is the sum of the unfloored counts (at least 1). A constant added to every
  column's log q cancels in the softmax, so only relative frequencies matter.
  """
  counts = jnp.asarray(item_counts, jnp.float32)
  total = jnp.maximum(jnp.sum(counts), 1.0)
  return jnp.log(jnp.maximum(counts[jnp.asarray(item_ids)], min_count) / total)


def _check_args(candidates, log_q, negatives, negative_ids, negative_log_q, remove_accidental_hits):
  if negatives is None:
    if negative_ids is not None or negative_log_q is not None:
      raise UserError("negative_ids / negative_log_q were given without negatives")
    return
  if negatives.ndim != 2 or negatives.shape[1] != candidates.shape[1]:
    raise UserError(f"negatives must be [N, {candidates.shape[1]}], got {negatives.shape}")
  if remove_accidental_hits and negative_ids is None:
    raise UserError("remove_accidental_hits needs negative_ids [N] to compare the extra negatives with the positives")
  # Each column must be corrected by the distribution it was drawn from, or by none at all: correcting only one of
  # the two sources puts their logits on different scales and biases the softmax toward the uncorrected one.
  if (log_q is None) != (negative_log_q is None):
    raise UserError("log_q and negative_log_q must be given together when there are extra negatives "
                    f"(log_q is {'set' if log_q is not None else 'None'}, negative_log_q is "
                    f"{'set' if negative_log_q is not None else 'None'})")


def retrieval_logits(queries, candidates, candidate_ids, weights, *, temperature: float = 1.0,
                     log_q: Optional[jnp.ndarray] = None, remove_accidental_hits: bool = True,
                     negatives: Optional[jnp.ndarray] = None, negative_ids: Optional[jnp.ndarray] = None,
                     negative_log_q: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Masked, logQ-corrected logits [B, B + N] in float32; row i's positive is column i.

  queries [B, D], candidates [B, D], candidate_ids [B], weights [B] (0 = padding); negatives [N, D], negative_ids [N],
  log_q [B] and negative_log_q [N] optional. logits = queries @ [candidates; negatives]^T / temperature - log q of the
  column (the correction applies to the softmax's logits, after the temperature, and to the positive column too).
  Masked to MASKED_LOGIT: padding columns (weight 0) for every row, and, if remove_accidental_hits, columns other than
  the diagonal whose id equals row i's positive id. The diagonal is never masked.
  """
  _check_args(candidates, log_q, negatives, negative_ids, negative_log_q, remove_accidental_hits)
  batch = candidates.shape[0]
  columns = candidates if negatives is None else jnp.concatenate([candidates, negatives.astype(candidates.dtype)])
  logits = jnp.einsum("bd,cd->bc", queries, columns, preferred_element_type=jnp.float32) / temperature
  if log_q is not None:
    column_log_q = log_q if negatives is None else jnp.concatenate([log_q, negative_log_q])
    logits = logits - jnp.asarray(column_log_q, jnp.float32)[None, :]

  num_extra = logits.shape[1] - batch
  masked = jnp.concatenate([jnp.asarray(weights) == 0, jnp.zeros((num_extra,), bool)])[None, :]
  if remove_accidental_hits:
    column_ids = candidate_ids if negatives is None else jnp.concatenate([candidate_ids, negative_ids])
    masked = masked | (jnp.asarray(candidate_ids)[:, None] == jnp.asarray(column_ids)[None, :])
  diagonal = jnp.arange(batch)[:, None] == jnp.arange(logits.shape[1])[None, :]
  return jnp.where(masked & ~diagonal, MASKED_LOGIT, logits)


def in_batch_softmax_loss(queries, candidates, candidate_ids, weights, *, temperature: float = 1.0,
                          log_q: Optional[jnp.ndarray] = None, remove_accidental_hits: bool = True,
                          negatives: Optional[jnp.ndarray] = None, negative_ids: Optional[jnp.ndarray] = None,
                          negative_log_q: Optional[jnp.ndarray] = None) -> jnp.ndarray:
  """Scalar softmax cross-entropy of each row's positive (column i of retrieval_logits), weighted mean over rows.

  Rows are weighted by `weights` [B] and the sum is divided by max(sum(weights), 1), so padding rows count neither
  as queries nor (through retrieval_logits) as negatives. If log_q is given with extra negatives, negative_log_q is
  required (and vice versa): see retrieval_logits for the shapes.
  """
  logits = retrieval_logits(queries, candidates, candidate_ids, weights, temperature=temperature, log_q=log_q,
                            remove_accidental_hits=remove_accidental_hits, negatives=negatives,
                            negative_ids=negative_ids, negative_log_q=negative_log_q)
  positive = jnp.diagonal(logits[:, :logits.shape[0]])
  cross_entropy = jax.nn.logsumexp(logits, axis=-1) - positive
  weights = jnp.asarray(weights, jnp.float32)
  return jnp.sum(weights * cross_entropy) / jnp.maximum(jnp.sum(weights), 1.0)

