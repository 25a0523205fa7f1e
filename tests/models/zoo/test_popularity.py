"""Popularity scores every user's catalogue by one learned score per item; trained by the next-item softmax, the
scores converge to the log click shares."""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx

from rec_jax.tasks import next_item
from tests.batches import make_batch
from tests.models.building import model as build


def test_scores_learn_log_click_shares():
  model = build("popularity", ml_collections.ConfigDict(), ml_collections.ConfigDict(), {"item_id": 6},
                rngs=nnx.Rngs(0))
  items = np.array([2, 2, 2, 3, 4, 4] * 4, np.int32)
  batch = make_batch(item_id=items, weight=np.ones(len(items), np.float32))
  np.testing.assert_array_equal(np.asarray(model.query_vectors(batch)), np.ones((len(items), 1)))
  graphdef, params = nnx.split(model, nnx.Param)
  task, tx = next_item.TASK, optax.adam(0.1)
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    loss, grads = jax.value_and_grad(lambda p: task.loss(nnx.merge(graphdef, p), batch, jax.random.key(0),
                                                                     next_item.Options()))(params)
    updates, state = tx.update(grads, state)
    return optax.apply_updates(params, updates), state, loss

  for _ in range(300):
    params, state, _ = step(params, state)
  model = nnx.merge(graphdef, params)
  scores = np.asarray(model.item_table())[2:5, 0]
  # Softmax over items 2..5 (PAD and OOV are never candidates): shares 1/2, 1/6, 1/3, 0 -> log-odds between them.
  np.testing.assert_allclose(scores[0] - scores[1], np.log(3), atol=0.05)
  np.testing.assert_allclose(scores[2] - scores[1], np.log(2), atol=0.05)
  np.testing.assert_allclose(np.asarray(model(batch))[:3], scores[0], rtol=1e-6)
