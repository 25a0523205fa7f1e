"""The optimizer: per-path learning-rate multipliers and which parameters are decayed."""

import logging

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from rec_jax.optim import make_optimizer, scale_by_path


def _params():
  return {"cf": {"users": {"embedding": jnp.ones((3, 2))}, "item_bias": {"embedding": jnp.ones((3, 1))}},
          "text": {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}}


def _config(**overrides):
  base = dict(learning_rate=0.1, warmup_steps=0, num_steps=10, final_lr_fraction=1.0, grad_clip_norm=1e9,
              beta1=0.9, beta2=0.999, weight_decay=0.0, embedding_decay=0.0, embedding_table_l2=0.0,
              lr_multipliers={})
  return ml_collections.ConfigDict({**base, **overrides})


def test_scale_by_path_multiplies_matching_updates_only():
  tx = scale_by_path({"^cf/users/": 0.1, "^text/": 0.5, "^cf/": 3.0})
  params = _params()
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_allclose(updates["cf"]["users"]["embedding"], 0.1)   # first matching pattern wins
  np.testing.assert_allclose(updates["cf"]["item_bias"]["embedding"], 3.0)
  np.testing.assert_allclose(updates["text"]["dense"]["kernel"], 0.5)
  np.testing.assert_allclose(updates["text"]["dense"]["bias"], 0.5)


def test_optimizer_step_with_multiplier_is_scaled_sgd_like_first_adam_step():
  tx = make_optimizer(_config(lr_multipliers={"^text/": 0.25}))
  params = _params()
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Adam's first step moves every parameter by lr * sign(grad); the multiplier scales the text tower's.
  np.testing.assert_allclose(updates["cf"]["users"]["embedding"], -0.1, rtol=1e-4)
  np.testing.assert_allclose(updates["text"]["dense"]["kernel"], -0.025, rtol=1e-4)


def test_bad_multiplier_is_a_named_error_and_an_unmatched_one_a_warning(caplog):
  with pytest.raises(ValueError, match=r"train.lr_multipliers\['\(unclosed'\]"):
    scale_by_path({"(unclosed": 0.1})
  with pytest.raises(ValueError, match=r"train.lr_multipliers\['\^cf/'\] = 'fast'"):
    scale_by_path({"^cf/": "fast"})
  tx = scale_by_path({"^nothing/": 0.1})
  with caplog.at_level(logging.WARNING):
    tx.init(_params())
  assert "match no parameter path" in caplog.text and "^nothing/" in caplog.text


def test_embedding_table_l2_is_the_table_penalty_in_the_loss_seen_by_adam():
  """Coupled whole-table L2 = (l2 / 2) * ||table||^2 added to the loss, for every embedding table, every row,
  through clipping and Adam; kernels and biases get none."""
  l2 = 0.3
  params = {"t": {"embedding": jnp.array([[1.0, -2.0], [0.5, 0.0], [-3.0, 4.0]])},
            "d": {"kernel": jnp.array([[2.0, -1.0]]), "bias": jnp.array([1.5])}}
  data_loss = lambda p: jnp.sum(p["t"]["embedding"][0] * p["d"]["kernel"][0]) + p["d"]["bias"][0] ** 2  # uses row 0
  penalised = lambda p: data_loss(p) + l2 / 2 * jnp.sum(jnp.square(p["t"]["embedding"]))
  with_l2, without = make_optimizer(_config(embedding_table_l2=l2)), make_optimizer(_config())
  s1, s2 = with_l2.init(params), without.init(params)
  p1 = p2 = params
  for _ in range(3):   # several steps, so Adam's moments carry the penalty too
    u1, s1 = with_l2.update(jax.grad(data_loss)(p1), s1, p1)
    u2, s2 = without.update(jax.grad(penalised)(p2), s2, p2)
    np.testing.assert_allclose(u1["t"]["embedding"], u2["t"]["embedding"], rtol=1e-6)
    np.testing.assert_allclose(u1["d"]["kernel"], u2["d"]["kernel"], rtol=1e-6)
    p1, p2 = jax.tree.map(jnp.add, p1, u1), jax.tree.map(jnp.add, p2, u2)
  # A row no batch uses (row 2) still moves towards 0: Adam's first step is lr * sign(l2 * w).
  first, _ = with_l2.update(jax.tree.map(jnp.zeros_like, params), with_l2.init(params), params)
  np.testing.assert_allclose(first["t"]["embedding"][2], [0.1, -0.1], rtol=1e-4)
  np.testing.assert_allclose(first["d"]["kernel"], 0.0)
  np.testing.assert_allclose(first["d"]["bias"], 0.0)


def test_embedding_table_l2_off_keeps_the_optimizer_state_structure_and_negative_is_refused():
  params = _params()
  assert (jax.tree.structure(make_optimizer(_config(embedding_table_l2=0.0)).init(params))
          == jax.tree.structure(make_optimizer(_config()).init(params)))
  with pytest.raises(ValueError, match=r"train.embedding_table_l2=-0.1: must be >= 0"):
    make_optimizer(_config(embedding_table_l2=-0.1))
