"""Tests that `train.embedding_l2` adds l2 * (squared norm of the looked-up id rows / batch) to the loss: only the
rows a batch uses are pulled, in proportion to their count, only in training, and the logged loss is the task's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from rec_jax import parallel
from rec_jax.models.id_embedding import IdEmbed, with_embedding_penalty
from rec_jax.tasks import rating
from rec_jax.train_step import make_train_step
from tests.batches import make_batch
from tests.models.building import model as build


def test_penalty_is_the_batch_mean_of_squared_rows_in_training_only():
  table = IdEmbed(6, 3, rngs=nnx.Rngs(0))
  ids = jnp.array([[1, 1], [4, 0]])   # [batch 2, 2 lookups]
  rows = np.asarray(table.embedding[...])
  twice = with_embedding_penalty(lambda t: (t(ids), t(jnp.array([5, 5]))))
  table.eval()
  assert float(twice(table)[1]) == 0.0
  table.train()
  expected = (2 * rows[1] @ rows[1] + rows[4] @ rows[4] + rows[0] @ rows[0]) / 2 + (2 * rows[5] @ rows[5]) / 2
  np.testing.assert_allclose(float(twice(table)[1]), expected, rtol=1e-6)
  np.testing.assert_allclose(float(twice(table)[1]), expected, rtol=1e-6)   # nothing left over from the last call


def _step(l2: float):
  model = build("mf", ml_collections.ConfigDict(dict(embed_dim=3, cf_dim=0)), ml_collections.ConfigDict(),
                {"user_id": 5, "item_id": 6}, label_offset=3.0, rngs=nnx.Rngs(1))
  model.train()
  graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
  mesh = parallel.make_mesh(1)
  step = make_train_step(graphdef, optax.sgd(0.1), rating.TASK, mesh, rating.Options(), embedding_l2=l2)
  batch = make_batch(label=np.array([4.0, 2.0, 5.0, 1.0], np.float32), user_id=np.array([1, 1, 2, 3], np.int32),
                     item_id=np.array([2, 4, 2, 2], np.int32))
  before = jax.tree.map(np.asarray, params)
  after, _, logs = step(params, frozen, optax.sgd(0.1).init(params), batch, jax.random.key(0))
  return before, jax.tree.map(np.asarray, after), float(logs["loss"])


def test_train_step_adds_l2_on_the_rows_the_batch_uses():
  before, plain, loss_plain = _step(0.0)
  _, regular, loss_regular = _step(0.5)
  assert loss_plain == loss_regular   # The logged loss is the task's own.
  # SGD: the difference is lr * l2 * 2 * count / batch * row, and rows not in the batch are unchanged.
  for table, counts in (("users", {1: 2, 2: 1, 3: 1}), ("items", {2: 3, 4: 1})):
    e0 = before[table]["embedding"]
    diff = plain[table]["embedding"] - regular[table]["embedding"]
    expected = np.zeros_like(e0)
    for row, count in counts.items():
      expected[row] = 0.1 * 0.5 * 2 * count / 4 * e0[row]
    np.testing.assert_allclose(diff, expected, rtol=1e-4, atol=1e-7)


def test_padded_tables_compute_what_unpadded_ones_do():
  from rec_jax.errors import UserError  # pylint: disable=import-outside-toplevel
  from rec_jax.models.id_embedding import padded_tables  # pylint: disable=import-outside-toplevel
  plain = IdEmbed(10, 3, rngs=nnx.Rngs(0))
  with padded_tables(8, 10):
    padded, small = IdEmbed(10, 3, rngs=nnx.Rngs(0)), IdEmbed(9, 3, rngs=nnx.Rngs(0))
  assert padded.num_embeddings == 16 and padded.real_rows == 10 and padded.embedding[...].shape == (16, 3)
  assert small.num_embeddings == 9   # fewer rows than min_rows: as it is
  table = np.asarray(padded.embedding[...])
  np.testing.assert_array_equal(table[:10], np.asarray(plain.embedding[...]))   # the same draw
  assert not table[10:].any()
  ids = jnp.array([[0, 9], [3, 3]])
  np.testing.assert_array_equal(np.asarray(padded(ids)), np.asarray(plain(ids)))
  np.testing.assert_array_equal(np.asarray(padded.full_table()), np.asarray(plain.full_table()))
  query = jnp.ones((2, 3))
  np.testing.assert_allclose(np.asarray(padded.attend(query)), np.asarray(plain.attend(query)), rtol=1e-6)
  with pytest.raises(UserError, match="table_row_multiple=0"):
    with padded_tables(0, 1):
      pass
