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


def test_scale_by_path_multiplies_matching_updates_only():
  tx = scale_by_path({"^cf/users/": 0.1, "^text/": 0.5, "^cf/": 3.0})
  params = _params()
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_allclose(updates["cf"]["users"]["embedding"], 0.1)   # first matching pattern wins
  np.testing.assert_allclose(updates["cf"]["item_bias"]["embedding"], 3.0)
  np.testing.assert_allclose(updates["text"]["dense"]["kernel"], 0.5)
  np.testing.assert_allclose(updates["text"]["dense"]["bias"], 0.5)


def test_optimizer_step_with_multiplier_is_scaled_sgd_like_first_adam_step():
  cfg = ml_collections.ConfigDict(dict(
      learning_rate=0.1, warmup_steps=0, num_steps=10, final_lr_fraction=1.0, grad_clip_norm=1e9,
      beta1=0.9, beta2=0.999, weight_decay=0.0, embedding_decay=0.0, lr_multipliers={"^text/": 0.25}))
  tx = make_optimizer(cfg)
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
