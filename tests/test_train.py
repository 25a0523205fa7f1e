"""End-to-end training on the `:smoke` shop: data parallel equality, exact resume, no retraining when finished."""

import json
import os

import jax
import pytest

from tests.test_tensorboard_writer import read_scalars

from rec_jax import train
from tests.preemption import preempt_after
from rec_jax.workdir import RunFiles


def _metrics(workdir):
  return RunFiles(str(workdir)).read_metrics()


@pytest.mark.xdist_group("trained_smoke_run")
def test_four_devices_match_one_device(smoke_config, tmp_path, trained_smoke_run):
  assert jax.device_count() == 4, "conftest forces 4 host devices"
  assert json.load(open(os.path.join(trained_smoke_run, "results.json")))["devices"]["mesh"] == {"data": 4, "model": 1}
  cfg = smoke_config.copy_and_resolve_references()
  cfg.parallel.num_devices = 1
  # The same schedule as the 4-device :smoke run, stopped after its first evaluation (step 20).
  assert preempt_after(cfg, str(tmp_path / "dev1"), 20) == 20
  m1, m4 = _metrics(tmp_path / "dev1")[-1], _metrics(trained_smoke_run)[0]
  assert m1["step"] == m4["step"] == 20
  assert m1["train/loss"] == pytest.approx(m4["train/loss"], abs=1e-5)
  assert m1["auc"] == pytest.approx(m4["auc"], abs=1e-4)
  assert m1["logloss"] == pytest.approx(m4["logloss"], abs=1e-5)


@pytest.mark.xdist_group("trained_smoke_run")
def test_resume_after_preemption_equals_uninterrupted_run(smoke_config, tmp_path, trained_smoke_run):
  full = json.load(open(os.path.join(trained_smoke_run, "results.json")))   # the uninterrupted :smoke run
  workdir = str(tmp_path / "resumed")
  assert preempt_after(smoke_config, workdir, 20) == 20
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  assert [m["step"] for m in _metrics(workdir)] == [20]
  resumed = train.train_and_evaluate(smoke_config, workdir)
  assert resumed["metrics"] == full["metrics"]
  assert _metrics(workdir) == _metrics(trained_smoke_run)
  # TensorBoard shows the same eval curves (the resumed process logs from step 21 on, in a new event file).
  resumed_events, full_events = read_scalars(workdir), read_scalars(trained_smoke_run)
  assert len(os.listdir(os.path.join(workdir, "tensorboard"))) == 2
  assert {t: v for t, v in resumed_events.items() if not t.startswith("train/steps_per_s")} == \
      {t: v for t, v in full_events.items() if not t.startswith("train/steps_per_s")}


@pytest.mark.xdist_group("trained_smoke_run")
def test_finished_run_is_not_retrained(smoke_config, trained_smoke_run):
  workdir = trained_smoke_run   # the :smoke config, trained once per session
  first = json.load(open(os.path.join(workdir, "results.json")))
  mtime = os.path.getmtime(os.path.join(workdir, "results.json"))
  again = train.train_and_evaluate(smoke_config, workdir)
  assert again == first
  assert os.path.getmtime(os.path.join(workdir, "results.json")) == mtime
  assert {"config.json", "data_report.json", "metrics.jsonl", "results.json", "checkpoints",
          "feature_processor.json", "tensorboard"} <= set(os.listdir(workdir))
  report = json.load(open(os.path.join(workdir, "data_report.json")))
  for r in report["splits"].values():
    assert r["rows_read"] == r["rows_kept"] + r["rows_dropped"]
  m = first["metrics"]
  for key in ("auc", "auc/warm", "auc/cold", "oracle_auc", "logloss", "ndcg@10"):
    assert 0.0 <= m[key] <= 1.0 or key == "logloss"
  assert m["num_rows"] == m["num_rows/warm"] + m["num_rows/cold"] == report["splits"]["test"]["rows_kept"]


def test_workdir_with_other_config_is_refused(smoke_config, tmp_path):
  workdir = str(tmp_path / "run")
  RunFiles(workdir).write_or_check_config(smoke_config)
  os.makedirs(os.path.join(workdir, "checkpoints", "latest", "20"))   # It trained: its config is pinned.
  other = smoke_config.copy_and_resolve_references()
  other.train.learning_rate = 0.5
  with pytest.raises(ValueError, match="train.learning_rate"):
    train.train_and_evaluate(other, workdir)


def test_frozen_text_mode_trains_from_a_cache_that_later_runs_reuse(smoke_config, tmp_path):
  cfg = smoke_config.copy_and_resolve_references()
  cfg.model.text.mode = "frozen"
  cfg.model.text.cache_dir = str(tmp_path / "cache")
  first = train.train_and_evaluate(cfg, str(tmp_path / "a"))
  second = train.train_and_evaluate(cfg, str(tmp_path / "b"))
  assert not first["text_cache"]["reused"] and second["text_cache"]["reused"]
  assert first["text_cache"]["path"] == second["text_cache"]["path"]
  assert first["metrics"] == second["metrics"]
  assert first["parameters"]["frozen"] == 0 and first["parameters"]["trainable"] > 0
  assert not os.path.exists(tmp_path / "a" / "text_cache")


def _tiny_checkpoint(directory, seed):
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from rec_jax.text.bert import BertConfig, BertEncoder  # pylint: disable=import-outside-toplevel
  from rec_jax.text.pretrained import export_hf_checkpoint  # pylint: disable=import-outside-toplevel
  cfg = BertConfig(vocab_size=30522, hidden_size=8, num_layers=2, num_heads=2, intermediate_size=16, max_position=32)
  export_hf_checkpoint(BertEncoder(cfg, rngs=nnx.Rngs(seed)), str(directory))


def test_lora_run_resumes_exactly_and_refuses_other_frozen_weights(smoke_config, tmp_path):
  _tiny_checkpoint(tmp_path / "bert", seed=0)
  cfg = smoke_config.copy_and_resolve_references()
  # Adapters on the top block only: block 0 is frozen and its output comes from the text cache.
  cfg.model.text.update(pretrained=str(tmp_path / "bert"), mode="lora")
  cfg.model.text.lora.layers = 1
  full = train.train_and_evaluate(cfg, str(tmp_path / "full"))
  rank, hidden = cfg.model.text.lora.rank, 8
  text_trainable = 2 * rank * (hidden + hidden) + hidden * cfg.model.embed_dim + cfg.model.embed_dim
  assert full["parameters"]["frozen"] > 30522 * hidden  # The whole pretrained encoder.
  assert full["parameters"]["trainable"] > text_trainable
  assert full["text_cache"]["blocks"] == 1 and not full["text_cache"]["reused"]
  workdir = str(tmp_path / "resumed")
  assert preempt_after(cfg, workdir, 20) == 20
  assert train.train_and_evaluate(cfg, workdir)["metrics"] == full["metrics"]
  # The checkpoints hold only trainable weights; resuming on top of other pretrained weights is refused.
  other = str(tmp_path / "other")
  assert preempt_after(cfg, other, 20) == 20
  _tiny_checkpoint(tmp_path / "bert", seed=1)
  with pytest.raises(ValueError, match="frozen weights"):
    train.train_and_evaluate(cfg, other)


def _search_smoke(tfds_dir):
  from rec_jax.config.loader import load_config  # pylint: disable=import-outside-toplevel
  cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "search.py") + ":smoke,separate")
  cfg.data.data_dir = tfds_dir
  # A random-init 2-block encoder whose top block trains: block 0's output of item texts and queries is cached.
  cfg.model.text.update(pretrained="", mode="top_layers", trainable_layers=1)
  cfg.model.text.bert.num_layers = 2
  return cfg


def test_search_trains_with_separate_query_encoder_from_the_text_cache(tfds_dir, tmp_path):
  cfg = _search_smoke(tfds_dir)
  result = train.train_and_evaluate(cfg, str(tmp_path / "separate"))
  assert result["text_cache"]["blocks"] == result["query_cache"]["blocks"] == 1
  assert result["text_cache"]["path"] != result["query_cache"]["path"]
  m = result["metrics"]
  assert 0 < m["ndcg@10"] <= 1 and m["oracle_ndcg@10"] > 0.5 and 0 < m["auc"] < 1
  # (Shared vs separate parameter counts: tests/models/test_query_encoding.py.)
  no_query = cfg.copy_and_resolve_references()
  no_query.features.query = ""
  with pytest.raises(ValueError, match="task='search' needs features.query"):
    train.train_and_evaluate(no_query, str(tmp_path / "no_query"))
