"""Exports shared by the serving tests: the session's trained `:smoke` hybrid (CTR, text tower reading tokens) and a
two-tower retrieval run whose frozen text encoder is read as cached pooled vectors (the item index, new items from
text, the HTTP service)."""

import os

import pytest

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


@pytest.fixture(scope="session")
def ctr_export(trained_smoke_run, tmp_path_factory):
  from rec_jax.analysis.loaded_run import load_run
  from rec_jax.serving.export_run import write_export
  out = str(tmp_path_factory.mktemp("ctr_export") / "export")
  write_export(load_run(trained_smoke_run), out)
  return trained_smoke_run, out


@pytest.fixture(scope="session")
def two_tower_run(tfds_dir, tmp_path_factory):
  from rec_jax import train
  from rec_jax.config.loader import load_config
  cfg = load_config(os.path.join(CONFIGS, "zoo.py") + ":two_tower_text,smoke")
  cfg.data.data_dir = tfds_dir
  cfg.model.text.mode = "frozen"
  cfg.train.num_steps = 20
  cfg.eval.every_steps = 20
  workdir = str(tmp_path_factory.mktemp("two_tower_run"))
  train.train_and_evaluate(cfg, workdir)
  return workdir


@pytest.fixture(scope="session")
def two_tower_export(two_tower_run, tmp_path_factory):
  from rec_jax.analysis.loaded_run import load_run
  from rec_jax.serving.export_run import write_export
  out = str(tmp_path_factory.mktemp("two_tower_export") / "export")
  write_export(load_run(two_tower_run), out)
  return two_tower_run, out


@pytest.fixture(scope="session")
def hidden_text_export(tfds_dir, tmp_path_factory):
  """The `:smoke` hybrid with a 2-block text encoder whose bottom block is frozen and cached (model.text.mode
  top_layers): the text tower reads hidden states, which the export computes from tokens (`text_form.text`)."""
  from rec_jax import train
  from rec_jax.analysis.loaded_run import load_run
  from rec_jax.config.loader import load_config
  from rec_jax.serving.export_run import write_export
  cfg = load_config(os.path.join(CONFIGS, "synthetic.py") + ":smoke")
  cfg.data.data_dir = tfds_dir
  cfg.model.text.mode = "top_layers"
  cfg.model.text.trainable_layers = 1
  cfg.model.text.bert.num_layers = 2
  cfg.train.num_steps = 20
  cfg.eval.every_steps = 20
  workdir = str(tmp_path_factory.mktemp("hidden_text_run"))
  train.train_and_evaluate(cfg, workdir)
  out = str(tmp_path_factory.mktemp("hidden_text_export") / "export")
  write_export(load_run(workdir), out)
  return workdir, out
