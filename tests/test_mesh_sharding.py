"""Row-sharded id tables over the mesh's model axis (rec_jax/parallel.py) on the 4 forced host devices: 4x1, 2x2
and 1x4 (data x model) meshes train to the same results as one device, the tables really are split by rows, and a
run checkpointed on one mesh resumes on another (orbax restores into the new shardings)."""

from __future__ import annotations

import jax
import pytest
from flax import nnx

from rec_jax import parallel, train
from rec_jax.experiment import build_experiment
from rec_jax.sparse_step import table_rows
from tests.preemption import preempt_after

# Every shop categorical hashed into 61 buckets: tables of 63 rows (2 reserved ids), padded to 64
# (parallel.table_row_multiple=4), a multiple of 1, 2 and 4; so are the other tables.
BUCKETS = 61


def _config(smoke_config, num_devices: int, model_axis: int, sparse: str = ""):
  cfg = smoke_config
  cfg.model.use_text = False
  cfg.features.hash_buckets = {name: BUCKETS for name in cfg.features.categorical}
  cfg.parallel.update(num_devices=num_devices, model_axis=model_axis, shard_min_rows=0, table_row_multiple=4)
  cfg.train.update(num_steps=8, sparse_embeddings=sparse)
  cfg.eval.every_steps = cfg.checkpoint.every_steps = 4
  return cfg


def _metrics(result):
  return {k: result["metrics"][k] for k in ("auc", "logloss")}


@pytest.mark.parametrize("sparse, shapes", [("", [(4, 1), (2, 2), (1, 4)]), ("lazy_adam", [(1, 4)])])
def test_meshes_train_to_the_same_results_as_one_device(smoke_config, tmp_path, sparse, shapes):
  results = {}
  for shape in [(1, 1)] + shapes:
    cfg = _config(smoke_config.copy_and_resolve_references(), shape[0] * shape[1], shape[1], sparse)
    result = train.train_and_evaluate(cfg, str(tmp_path / f"{shape[0]}x{shape[1]}"))
    assert result["devices"]["mesh"] == {"data": shape[0], "model": shape[1]}
    results[shape] = _metrics(result)
  for shape, metrics in results.items():
    for name, value in metrics.items():
      assert value == pytest.approx(results[(1, 1)][name], abs=1e-5), (shape, name)


def test_tables_are_split_by_rows_over_the_model_axis(smoke_config, tmp_path):
  cfg = _config(smoke_config, 4, 2)
  run = build_experiment(cfg, str(tmp_path))
  rows = table_rows(run.model)
  mesh = parallel.make_mesh(4, 2)
  sharded = parallel.sharded_tables(mesh, rows, min_rows=0)
  hashed = {name for name in rows if name.startswith("fields/tables/")}
  assert hashed and all(rows[n] == BUCKETS + 3 for n in hashed)   # 63 rows and one of padding
  assert set(sharded) == set(rows) and all(n % 4 == 0 for n in rows.values())
  # Without padding, tables whose rows 2 does not divide stay replicated.
  plain = _config(smoke_config.copy_and_resolve_references(), 4, 2)
  plain.parallel.table_row_multiple = 1
  (tmp_path / "unpadded").mkdir()
  unpadded = table_rows(build_experiment(plain, str(tmp_path / "unpadded")).model)
  left = set(unpadded) - set(parallel.sharded_tables(mesh, unpadded, min_rows=0))
  assert left == {n for n in unpadded if unpadded[n] % 2} and unpadded[sorted(hashed)[0]] == BUCKETS + 2
  params = nnx.split(run.model, nnx.Param, ...)[1]
  placed = parallel.place(params, parallel.state_shardings(mesh, params, sharded))
  for path, leaf in jax.tree_util.tree_flatten_with_path(placed)[0]:
    name = parallel._leaf_name(path)   # pylint: disable=protected-access
    if name in sharded:
      assert [s.data.shape[0] for s in leaf.addressable_shards] == [rows[name] // 2] * 4
    else:
      assert all(s.data.shape == leaf.shape for s in leaf.addressable_shards)


def test_a_run_resumes_on_another_mesh(smoke_config, tmp_path):
  whole = train.train_and_evaluate(_config(smoke_config.copy_and_resolve_references(), 4, 2),
                                   str(tmp_path / "whole"))
  workdir = str(tmp_path / "moved")
  assert preempt_after(_config(smoke_config.copy_and_resolve_references(), 4, 2), workdir, 4) == 4
  moved = train.train_and_evaluate(_config(smoke_config.copy_and_resolve_references(), 4, 4), workdir)
  assert moved["devices"]["mesh"] == {"data": 1, "model": 4}
  for name, value in _metrics(moved).items():
    assert value == pytest.approx(_metrics(whole)[name], abs=1e-5), name


def test_a_model_axis_that_does_not_divide_the_devices_is_refused():
  with pytest.raises(ValueError, match="parallel.model_axis=3 does not divide the 4 devices"):
    parallel.make_mesh(4, 3)
