"""Sparse id-table updates (`train.sparse_embeddings`, rec_jax/sparse_step.py) inside the real train step: the same
parameters as dense AdamW when every row is touched, untouched rows left exactly alone, a whole-table read refused
by name, and a run that trains, resumes exactly and saves its row state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from rec_jax import parallel, train
from rec_jax.errors import UserError
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.optim import make_optimizer
from rec_jax.sparse_step import SparseOptimizer, make_sparse_optimizer, path_name, table_paths
from rec_jax.tasks import ctr
from rec_jax.train_step import make_train_step, step_key
from tests.batches import make_batch
from tests.models.building import model as build
from tests.preemption import preempt_after

FEATURES = ml_collections.ConfigDict(dict(categorical=("age", "category"), numeric=("price",), history_length=3))
VOCAB = {"age": 5, "category": 7, "user_id": 11, "item_id": 13}
N = 26   # rows per batch: every id of every table appears (arange % vocab)


def _train_cfg(**kw):
  base = dict(learning_rate=0.05, warmup_steps=2, num_steps=10, final_lr_fraction=0.5, grad_clip_norm=0.1, beta1=0.9,
              beta2=0.999, weight_decay=1e-3, embedding_decay=0.0, embedding_table_l2=0.0,
              lr_multipliers={"^cf/items/": 0.5}, sparse_embeddings="lazy_adam")
  return ml_collections.ConfigDict({**base, **kw})


def _model():
  cfg = ml_collections.ConfigDict(dict(embed_dim=4, use_text=False, use_cf=True, cross="dcnv2",
                                       cross_options=dict(num_layers=1), history="mean", cf_user_embedding=True,
                                       cf_dim=0, field_towers=("user", "item", "history"), mlp=(8,)))
  return build("hybrid", cfg, FEATURES, VOCAB, rngs=nnx.Rngs(0))


def _batch(step: int, items=None):
  rng = np.random.default_rng(step)
  order = rng.permutation(N)
  item = (np.arange(N) % 13)[order] if items is None else rng.choice(items, N)
  history = np.stack([(item + k) % 13 for k in (1, 2, 3)], axis=1) if items is None else rng.choice(items, (N, 3))
  return make_batch(categorical={"age": (np.arange(N) % 5)[order], "category": (np.arange(N) % 7)[order]},
                    numeric={"price": rng.normal(size=N).astype(np.float32)}, user_id=(np.arange(N) % 11)[order],
                    item_id=item.astype(np.int32), history=history.astype(np.int32),
                    label=rng.integers(0, 2, N).astype(np.float32))


def _train(tx, steps: int, items=None):
  model = _model()
  model.train()
  graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
  mesh = parallel.make_mesh(1)
  step = make_train_step(graphdef, tx, ctr.TASK, mesh, ctr.Options())
  before = jax.tree.map(np.asarray, params)
  opt_state = tx.init(params)
  for s in range(steps):
    params, opt_state, logs = step(params, frozen, opt_state, _batch(s, items), step_key(0, s))
  return before, jax.tree.map(np.asarray, params), opt_state, logs


def test_sparse_lazy_adam_equals_dense_adamw_when_every_row_is_touched():
  cfg = _train_cfg()
  sparse = make_sparse_optimizer(cfg, _model())
  assert {path_name(p) for p in sparse.tables} >= {"cf/users/embedding", "cf/items/embedding",
                                                     "cf/item_bias/embedding", "fields/tables/age/embedding"}
  assert sparse.factors[("cf", "items", "embedding")] == 0.5
  _, ours, _, our_logs = _train(sparse, 4)
  _, theirs, _, their_logs = _train(make_optimizer(cfg), 4)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), ours, theirs)
  np.testing.assert_allclose(float(our_logs["loss"]), float(their_logs["loss"]), rtol=1e-5)
  np.testing.assert_allclose(float(our_logs["grad_norm"]), float(their_logs["grad_norm"]), rtol=1e-5)
  assert float(our_logs["grad_norm"]) > 0.1   # the clip acted


@pytest.mark.parametrize("name", ["lazy_adam", "adagrad", "rowwise_adagrad"])
def test_rows_a_batch_never_touches_stay_exactly_as_they_were(name):
  used = np.array([2, 3, 5])
  before, after, opt_state, _ = _train(make_sparse_optimizer(_train_cfg(sparse_embeddings=name), _model()), 3, used)
  table0, table1 = before["cf"]["items"]["embedding"], after["cf"]["items"]["embedding"]
  unused = np.setdiff1d(np.arange(13), used)
  np.testing.assert_array_equal(table1[unused], table0[unused])
  assert not np.allclose(table1[used], table0[used])
  for values in opt_state["rows"]["cf/items/embedding"].values():
    values = np.asarray(values)
    np.testing.assert_array_equal(values[unused], np.full_like(values[unused], values[unused].flat[0]))
    assert values[unused].flat[0] in (0.0, np.float32(0.1))   # untouched: the initial state (Adam 0, Adagrad 0.1)


class _FullSoftmax(nnx.Module):
  def __init__(self):
    self.items = IdEmbed(6, 2, rngs=nnx.Rngs(0))


class _FullSoftmaxTask:
  @staticmethod
  def loss(model, batch, rng, options):
    del rng, options
    query = model.items(batch.user_id)
    return jnp.mean(jax.nn.logsumexp(query @ model.items.full_table().T, axis=-1))


def test_a_model_reading_a_whole_table_is_refused_by_name():
  model = _FullSoftmax()
  model.train()
  graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
  tx = make_sparse_optimizer(_train_cfg(lr_multipliers={}), model)
  step = make_train_step(graphdef, tx, _FullSoftmaxTask, parallel.make_mesh(1), None)
  with pytest.raises(UserError, match="reads a whole id table in training.*train.sparse_embeddings=''"):
    step(params, frozen, tx.init(params), make_batch(user_id=np.array([1, 2], np.int32)), step_key(0, 0))


def test_whole_table_l2_and_unknown_names_are_refused():
  with pytest.raises(UserError, match="embedding_table_l2=0.1 decays every row"):
    make_sparse_optimizer(_train_cfg(embedding_table_l2=0.1), _model())
  with pytest.raises(KeyError, match="rowwise_adagrad"):
    make_sparse_optimizer(_train_cfg(sparse_embeddings="rowwise"), _model())


def test_table_paths_are_the_id_tables_only():
  assert isinstance(make_sparse_optimizer(_train_cfg(), _model()), SparseOptimizer)
  assert all(p[-1] == "embedding" for p in table_paths(_model()))
  assert ("mlp",) not in {p[:1] for p in table_paths(_model())}


def test_a_sparse_run_trains_and_resumes_exactly(smoke_config, tmp_path):
  cfg = smoke_config
  cfg.train.sparse_embeddings = "rowwise_adagrad"
  cfg.model.use_text = False   # (the id tables are what is sparse; compiling BERT three times is not needed)
  cfg.train.num_steps, cfg.checkpoint.every_steps, cfg.eval.every_steps = 20, 10, 10
  full = train.train_and_evaluate(cfg, str(tmp_path / "full"))
  assert np.isfinite(full["metrics"]["auc"]) and full["metrics"]["auc"] > 0.5
  workdir = str(tmp_path / "resumed")
  assert preempt_after(cfg, workdir, 10) == 10
  assert train.train_and_evaluate(cfg, workdir)["metrics"] == full["metrics"]
