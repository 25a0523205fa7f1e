"""Tests that the next-item loss is the weighted mean of -log softmax at the target over items 2.. (full softmax) or
over [target, uniformly sampled items other than the target] (sampled softmax), against a numpy loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rec_jax.tasks.next_item_loss import next_item_loss

BATCH, POSITIONS, DIM, ITEMS = 3, 4, 5, 8
TARGETS = np.array([[2, 5, 7, 0], [3, 3, 6, 4], [7, 0, 0, 0]])
WEIGHTS = np.array([[1.0, 0.5, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]], np.float32)


def _random(seed: int, shape) -> np.ndarray:
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _inputs(seed: int = 0):
  states, table = _random(seed, (BATCH, POSITIONS, DIM)), _random(seed + 1, (ITEMS, DIM))
  # PAD and OOV rows that every state likes best, so letting them into the softmax would change every loss.
  table[:2] = 3.0 * states.reshape(-1, DIM).mean(axis=0)
  return states, table


def _brute_force(states, targets, weights, table, candidates_of) -> float:
  """sum_w (logsumexp over the candidate columns - the target's logit) / max(sum_w, 1); candidates_of(target) lists
  the table rows of the columns, the target's first."""
  total = 0.0
  for b in range(states.shape[0]):
    for p in range(states.shape[1]):
      if weights[b, p] == 0:
        continue
      rows = candidates_of(int(targets[b, p]))
      logits = np.array([np.dot(states[b, p].astype(np.float64), table[r].astype(np.float64)) for r in rows])
      lse = logits.max() + np.log(np.sum(np.exp(logits - logits.max())))
      total += weights[b, p] * (lse - logits[0])
  return total / max(float(weights.sum()), 1.0)


def _full_candidates(target: int):
  return [target] + [r for r in range(2, ITEMS) if r != target]


def test_full_softmax_is_over_every_item_but_pad_and_oov():
  states, table = _inputs()
  loss = float(next_item_loss(states, TARGETS, WEIGHTS, table, jax.random.key(0)))
  np.testing.assert_allclose(loss, _brute_force(states, TARGETS, WEIGHTS, table, _full_candidates), rtol=1e-5)
  with_reserved = _brute_force(states, TARGETS, WEIGHTS, table, lambda t: [t] + [r for r in range(ITEMS) if r != t])
  assert abs(loss - with_reserved) > 1e-2


def _sampled_ids(rng, num_negatives: int) -> np.ndarray:
  # The same draw as next_item_loss: uniform over ids 2 .. ITEMS - 1, shared by every position.
  return np.asarray(jax.random.randint(rng, (num_negatives,), 2, ITEMS))


@pytest.mark.parametrize("num_negatives, seed", [(3, 0), (6, 1)])
def test_sampled_softmax_is_the_target_against_the_drawn_items_other_than_it(num_negatives, seed):
  states, table = _inputs(seed)
  rng = jax.random.key(seed + 10)
  ids = _sampled_ids(rng, num_negatives)
  assert np.isin(TARGETS[WEIGHTS > 0], ids).any()  # Some accidental hit is masked.
  assert np.all(ids >= 2)
  loss = float(next_item_loss(states, TARGETS, WEIGHTS, table, rng, num_negatives=num_negatives))
  expected = _brute_force(states, TARGETS, WEIGHTS, table, lambda t: [t] + [i for i in ids if i != t])
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  unmasked = _brute_force(states, TARGETS, WEIGHTS, table, lambda t: [t] + list(ids))
  assert abs(loss - unmasked) > 1e-3
  other = float(next_item_loss(states, TARGETS, WEIGHTS, table, jax.random.key(seed + 11), num_negatives=num_negatives))
  assert other != pytest.approx(loss)  # The rng chooses the negatives.


@pytest.mark.parametrize("num_negatives", [0, 3])
def test_zero_weight_positions_contribute_nothing(num_negatives):
  states, table = _inputs(2)
  rng = jax.random.key(4)
  loss = float(next_item_loss(states, TARGETS, WEIGHTS, table, rng, num_negatives=num_negatives))
  off = WEIGHTS == 0
  noisy_states = np.where(off[..., None], 100.0 * _random(5, states.shape), states)
  noisy_targets = np.where(off, np.array([[1, 6, 0, -1]]), TARGETS)  # OOV, a real item, PAD and a negative id.
  assert float(next_item_loss(noisy_states, noisy_targets, WEIGHTS, table, rng,
                              num_negatives=num_negatives)) == pytest.approx(loss, rel=1e-6)
  heavier = WEIGHTS.copy()
  heavier[1] *= 3.0
  assert float(next_item_loss(states, TARGETS, heavier, table, rng, num_negatives=num_negatives)) != pytest.approx(loss)


@pytest.mark.parametrize("num_negatives", [0, 3])
def test_all_zero_weights_give_a_zero_loss_and_finite_gradients(num_negatives):
  states, table = _inputs(3)
  zeros = np.zeros_like(WEIGHTS)
  targets = np.zeros_like(TARGETS)  # All PAD, as in a batch of empty sequences.

  def loss_fn(s, t):
    return next_item_loss(s, targets, zeros, t, jax.random.key(0), num_negatives=num_negatives)

  loss, grads = jax.value_and_grad(loss_fn, argnums=(0, 1))(states, table)
  assert float(loss) == 0.0
  assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_bce_is_sasrecs_binary_loss_with_one_uniform_negative_per_position():
  states, table = _inputs(3)
  rng = jax.random.key(7)
  ids = np.asarray(jax.random.randint(rng, TARGETS.shape, 2, ITEMS))
  loss = float(next_item_loss(states, TARGETS, WEIGHTS, table, rng, loss="bce"))
  total = 0.0
  for b in range(BATCH):
    for p in range(POSITIONS):
      t, n = max(int(TARGETS[b, p]), 0), int(ids[b, p])
      positive = float(np.dot(states[b, p], table[t]))
      negative = float(np.dot(states[b, p], table[n]))
      term = np.log1p(np.exp(-positive)) + (0.0 if n == t else np.log1p(np.exp(negative)))
      total += WEIGHTS[b, p] * term
  np.testing.assert_allclose(loss, total / WEIGHTS.sum(), rtol=1e-5)
  with pytest.raises(ValueError, match="task_options.loss"):
    next_item_loss(states, TARGETS, WEIGHTS, table, rng, loss="hinge")
