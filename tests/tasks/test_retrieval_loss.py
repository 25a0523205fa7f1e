"""Tests that the in-batch softmax loss equals a row-by-row softmax cross-entropy over the allowed columns."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rec_jax.tasks.retrieval_loss import (MASKED_LOGIT, in_batch_softmax_loss, log_sampling_probability,
                                              retrieval_logits)


def _batch(seed: int, b: int = 6, d: int = 4, n: int = 0):
  """A tiny batch with a duplicated id (rows 0 and 3), a padding row (5) and fractional weights."""
  rng = np.random.default_rng(seed)
  out = dict(queries=rng.normal(size=(b, d)).astype(np.float32), candidates=rng.normal(size=(b, d)).astype(np.float32),
             candidate_ids=np.array([4, 8, 2, 4, 9, 0][:b], np.int32),
             weights=np.array([1.0, 0.5, 1.0, 2.0, 1.0, 0.0][:b], np.float32),
             log_q=np.log(rng.uniform(0.01, 0.3, size=b)).astype(np.float32))
  if n:
    out.update(negatives=rng.normal(size=(n, d)).astype(np.float32),
               negative_ids=np.array([8, 11, 4, 12, 13][:n], np.int32),   # 8 and 4 are positives of some rows
               negative_log_q=np.full(n, np.log(1 / 20), np.float32))
  return out


def _brute_force(queries, candidates, candidate_ids, weights, log_q=None, temperature=1.0, negatives=None,
                 negative_ids=None, negative_log_q=None, remove_accidental_hits=True) -> float:
  """For each row, keep only the allowed columns, then softmax cross-entropy of the positive; weighted mean."""
  q, c = queries.astype(np.float64), candidates.astype(np.float64)
  total = 0.0
  for i in range(len(q)):
    row = []
    for j in range(len(c)):
      allowed = j == i or (weights[j] != 0 and not (remove_accidental_hits and candidate_ids[j] == candidate_ids[i]))
      if allowed:
        row.append(q[i] @ c[j] / temperature - (log_q[j] if log_q is not None else 0.0))
      if j == i:
        positive = row[-1]
    for j in range(0 if negatives is None else len(negatives)):
      if not (remove_accidental_hits and negative_ids[j] == candidate_ids[i]):
        row.append(q[i] @ negatives[j].astype(np.float64) / temperature -
                   (negative_log_q[j] if negative_log_q is not None else 0.0))
    row = np.array(row)
    lse = row.max() + np.log(np.sum(np.exp(row - row.max())))
    total += weights[i] * (lse - positive)
  return total / max(weights.sum(), 1.0)


@pytest.mark.parametrize("use_log_q", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.2])
@pytest.mark.parametrize("num_negatives", [0, 5])
@pytest.mark.parametrize("remove_accidental_hits", [True, False])
def test_loss_matches_brute_force(use_log_q, temperature, num_negatives, remove_accidental_hits):
  b = _batch(num_negatives, n=num_negatives)
  if not use_log_q:
    b.pop("log_q")
    b.pop("negative_log_q", None)
  if not remove_accidental_hits and num_negatives and not use_log_q:
    b.pop("negative_ids")   # ids are only needed to find accidental hits
  loss = in_batch_softmax_loss(**b, temperature=temperature, remove_accidental_hits=remove_accidental_hits)
  expected = _brute_force(**b, temperature=temperature, remove_accidental_hits=remove_accidental_hits)
  assert np.isfinite(float(loss))
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_log_q_is_subtracted_from_exactly_its_column():
  b = _batch(1, n=3)
  plain = np.asarray(retrieval_logits(b["queries"], b["candidates"], b["candidate_ids"], b["weights"],
                                      negatives=b["negatives"], negative_ids=b["negative_ids"], temperature=0.5))
  corrected = np.asarray(retrieval_logits(**b, temperature=0.5))
  column_log_q = np.concatenate([b["log_q"], b["negative_log_q"]])
  unmasked = plain != MASKED_LOGIT
  assert (unmasked == (corrected != MASKED_LOGIT)).all()
  diff = (corrected - plain)[unmasked]
  np.testing.assert_allclose(diff, -np.broadcast_to(column_log_q, plain.shape)[unmasked], rtol=1e-5, atol=1e-5)
  # Against the formula itself: q.c / temperature - log q of the column.
  q, cols = b["queries"], np.concatenate([b["candidates"], b["negatives"]])
  expected = q @ cols.T / 0.5 - column_log_q[None, :]
  np.testing.assert_allclose(corrected[unmasked], expected[unmasked], rtol=1e-5, atol=1e-5)


def test_accidental_hits_and_padding_masked_diagonal_kept():
  b = _batch(2, n=3)   # ids [4, 8, 2, 4, 9, 0], row 5 padding; negative ids [8, 11, 4]
  logits = np.asarray(retrieval_logits(**b))
  masked = logits == MASKED_LOGIT
  expected = np.zeros((6, 9), bool)
  expected[0, 3] = expected[3, 0] = True          # rows 0 and 3 share id 4
  expected[[0, 3], 8] = True                      # extra negative 4 is their positive
  expected[1, 6] = True                           # extra negative 8 is row 1's positive
  expected[:, 5] = True                           # the padding row is no one's negative...
  expected[5, 5] = False                          # ...but its own diagonal, like every diagonal, stays
  np.testing.assert_array_equal(masked, expected)
  assert not np.diag(masked[:, :6]).any()
  kept = np.asarray(retrieval_logits(**b, remove_accidental_hits=False)) == MASKED_LOGIT
  np.testing.assert_array_equal(kept, expected & (np.arange(9)[None, :] == 5))


def test_padding_rows_count_neither_as_queries_nor_as_negatives():
  b = _batch(3)
  full = float(in_batch_softmax_loss(**b))
  # Garbage in the padding row changes nothing; dropping it gives the same loss.
  garbage = dict(b, queries=b["queries"].copy(), candidates=b["candidates"].copy())
  garbage["queries"][5] = 50.0
  garbage["candidates"][5] = 50.0
  garbage["candidate_ids"] = b["candidate_ids"].copy()
  garbage["candidate_ids"][5] = 8
  assert float(in_batch_softmax_loss(**garbage)) == pytest.approx(full, rel=1e-6)
  dropped = {k: v[:5] for k, v in b.items()}
  assert float(in_batch_softmax_loss(**dropped)) == pytest.approx(full, rel=1e-6)


def test_no_nan_when_everything_is_masked_or_extreme():
  b = _batch(4)
  b["candidate_ids"][:] = 7          # every off-diagonal column is an accidental hit
  loss, grads = jax.value_and_grad(lambda q: in_batch_softmax_loss(**dict(b, queries=q)))(b["queries"])
  assert float(loss) == 0.0          # only the positive is left in each row
  assert np.isfinite(np.asarray(grads)).all()
  b = _batch(4)
  b["queries"] *= 1e3
  loss, grads = jax.value_and_grad(lambda q: in_batch_softmax_loss(**dict(b, queries=q), temperature=0.01))(
      b["queries"])
  assert np.isfinite(float(loss)) and np.isfinite(np.asarray(grads)).all()
  b = _batch(4)
  b["weights"][:] = 0.0
  assert float(in_batch_softmax_loss(**b)) == 0.0


def test_jit_matches_eager():
  b = _batch(5, n=4)
  fn = jax.jit(functools.partial(in_batch_softmax_loss, temperature=0.5))
  assert float(fn(**b)) == pytest.approx(float(in_batch_softmax_loss(**b, temperature=0.5)), rel=1e-6)
  assert float(fn(**b)) == pytest.approx(_brute_force(**b, temperature=0.5), rel=1e-5)


def test_inconsistent_arguments_raise():
  b = _batch(6, n=2)
  with pytest.raises(ValueError, match="negative_log_q"):
    in_batch_softmax_loss(**dict(b, negative_log_q=None))
  with pytest.raises(ValueError, match="negative_log_q"):
    in_batch_softmax_loss(**dict(b, log_q=None))
  with pytest.raises(ValueError, match="negative_ids"):
    in_batch_softmax_loss(**dict(b, negative_ids=None))
  with pytest.raises(ValueError, match="without negatives"):
    in_batch_softmax_loss(**dict(b, negatives=None))


def test_log_sampling_probability_small_table():
  counts = np.array([0, 1, 3, 6])                 # total 10; item 0 never seen -> floored to one count
  ids = np.array([[1, 2], [3, 0]])
  expected = np.log(np.array([[0.1, 0.3], [0.6, 0.1]]))
  np.testing.assert_allclose(np.asarray(log_sampling_probability(counts, ids)), expected, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(jax.jit(log_sampling_probability)(jnp.asarray(counts), jnp.asarray(ids))),
                             expected, rtol=1e-6)
  assert np.isfinite(np.asarray(log_sampling_probability(np.zeros(3), np.arange(3)))).all()
