"""The row optimizers of sparse id tables against the dense optimizers they stand for (rec_jax/row_optimizers.py):
on the rows a step touches they do what optax does; untouched rows and their state are left exactly as they were."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rec_jax.errors import UnknownNameError
from rec_jax.row_optimizers import ROW_OPTIMIZERS, Hyper

V, D, LR = 7, 3, 0.05


def _grads(steps: int, touched_per_step, seed: int = 0, pool: int = V):
  """Per step: (touched row ids ascending, drawn from the first `pool` rows; their gradient rows [n, D]; the dense
  gradient [V, D], zero elsewhere)."""
  rng = np.random.default_rng(seed)
  out = []
  for s in range(steps):
    rows = np.sort(rng.choice(pool, size=touched_per_step(s), replace=False))
    g = rng.normal(size=(len(rows), D)).astype(np.float32)
    dense = np.zeros((V, D), np.float32)
    dense[rows] = g
    out.append((rows, g, dense))
  return out


def _run_rows(name: str, table, steps, hyper=Hyper()):
  opt = ROW_OPTIMIZERS.get(name)(hyper)
  table, state = jnp.asarray(table), opt.init(jnp.asarray(table))
  for count, (rows, g, _) in enumerate(steps, start=1):
    gathered = {k: v[rows] for k, v in state.items()}
    new_rows, new_state = opt.update(jnp.asarray(g), table[rows], gathered, jnp.float32(LR), jnp.int32(count))
    table = table.at[rows].set(new_rows)
    state = {k: state[k].at[rows].set(new_state[k]) for k in state}
  return np.asarray(table), jax_tree_np(state)


def jax_tree_np(tree):
  return {k: np.asarray(v) for k, v in tree.items()}


def _run_optax(tx, table, steps):
  params = jnp.asarray(table)
  state = tx.init(params)
  for _, _, dense in steps:
    updates, state = tx.update(jnp.asarray(dense), state, params)
    params = optax.apply_updates(params, updates)
  return np.asarray(params)


def test_lazy_adam_is_adam_when_every_row_is_touched_every_step():
  table = np.random.default_rng(1).normal(size=(V, D)).astype(np.float32)
  steps = _grads(6, lambda s: V)
  ours, _ = _run_rows("lazy_adam", table, steps)
  np.testing.assert_allclose(ours, _run_optax(optax.adam(LR), table, steps), rtol=1e-6, atol=1e-7)


def test_lazy_adam_leaves_untouched_rows_and_their_moments_alone_and_follows_the_lazy_recurrence():
  table = np.random.default_rng(2).normal(size=(V, D)).astype(np.float32)
  steps = _grads(5, lambda s: 1 + s % 3, seed=3, pool=V - 1)   # the last row is never touched
  ours, state = _run_rows("lazy_adam", table, steps, Hyper(decay=0.01))
  # A numpy reference: each row's moments move only on the steps it is touched; bias correction by global step.
  ref, mu, nu = table.copy(), np.zeros_like(table), np.zeros_like(table)
  for t, (rows, g, _) in enumerate(steps, start=1):
    mu[rows] = 0.9 * mu[rows] + 0.1 * g
    nu[rows] = 0.999 * nu[rows] + 0.001 * g * g
    direction = (mu[rows] / (1 - 0.9 ** t)) / (np.sqrt(nu[rows] / (1 - 0.999 ** t)) + 1e-8)
    ref[rows] = ref[rows] - LR * (direction + 0.01 * ref[rows])
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(state["mu"], mu, rtol=1e-5, atol=1e-7)
  never = [V - 1]
  np.testing.assert_array_equal(ours[never], table[never])
  assert not state["mu"][never].any() and not state["nu"][never].any()


def test_lazy_adam_differs_from_dense_adam_on_a_row_absent_from_a_step():
  """The documented semantics: dense Adam keeps moving an absent row along its momentum, lazy Adam does not."""
  table = np.zeros((V, D), np.float32)
  g = np.ones((1, D), np.float32)
  dense = np.zeros((V, D), np.float32)
  dense[0] = 1.0
  steps = [(np.array([0]), g, dense), (np.array([1]), g, np.roll(dense, 1, axis=0))]
  ours, _ = _run_rows("lazy_adam", table, steps)
  theirs = _run_optax(optax.adam(LR), table, steps)
  np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)   # touched on its only step: the same
  assert np.all(np.abs(theirs[0]) > np.abs(ours[0]))          # dense Adam moved row 0 again on step 2


@pytest.mark.parametrize("touched", [lambda s: V, lambda s: 1 + s % 4])
def test_adagrad_is_exactly_dense_adagrad(touched):
  table = np.random.default_rng(4).normal(size=(V, D)).astype(np.float32)
  steps = _grads(6, touched, seed=5)
  ours, _ = _run_rows("adagrad", table, steps)
  np.testing.assert_allclose(ours, _run_optax(optax.adagrad(LR), table, steps), rtol=1e-6, atol=1e-7)


def test_rowwise_adagrad_keeps_one_accumulator_per_row():
  table = np.random.default_rng(6).normal(size=(V, D)).astype(np.float32)
  steps = _grads(4, lambda s: 2, seed=7)
  ours, state = _run_rows("rowwise_adagrad", table, steps)
  assert state["sum_of_squares"].shape == (V, 1)
  ref, acc = table.copy(), np.full((V, 1), 0.1, np.float32)
  for rows, g, _ in steps:
    acc[rows] += np.mean(g * g, axis=1, keepdims=True)
    ref[rows] -= LR * g / np.sqrt(acc[rows] + 1e-7)
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(state["sum_of_squares"], acc, rtol=1e-6)


def test_unknown_row_optimizer_names_the_valid_ones():
  with pytest.raises(UnknownNameError, match="lazy_adam"):
    ROW_OPTIMIZERS.get("lazyadam")
