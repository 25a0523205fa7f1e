"""Streaming preparation end to end on a generated Criteo file: a run prepared block by block into row stores
trains and evaluates exactly as the in-memory run (same metrics, report and vocabularies), also with batches
prefetched; a resumed preparation reads the store without reading the log again; changed data is refused by
name; what streaming cannot do is refused before any work."""

import json
import os

import pytest

from rec_jax.config.loader import load_config
from rec_jax.data.datasets import DATASETS
from rec_jax.data.features import FeatureOptions
from rec_jax.data.generators.criteo_like import CriteoSpec, scaled_vocab, write
from rec_jax.data.prepare import prepare_data
from rec_jax.data.streaming.prepare import MANIFEST, STORE_DIR, check_streaming
from rec_jax.data.streaming.row_store import StoredRows
from rec_jax.errors import UserError
from rec_jax.experiment import preflight

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def criteo_txt(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("criteo") / "train.txt")
  write(CriteoSpec(rows=6000, seed=3, vocab_sizes=scaled_vocab(30_000)), path)
  return path


def _config(path, tmp_path, streaming, **overrides):
  cfg = load_config(os.path.join(ROOT, "configs", "criteo_ctr.py") + ":smoke")
  cfg.data.path, cfg.data.data_dir = path, str(tmp_path / "tfds")
  cfg.data.streaming = streaming
  cfg.features.min_count = 2
  cfg.train.num_steps, cfg.eval.every_steps, cfg.checkpoint.every_steps = 20, 10, 20
  for key, value in overrides.items():
    section, name = key.split(".")
    cfg[section][name] = value
  return cfg


def _read(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return json.load(f)


def test_a_streamed_run_equals_the_in_memory_run(criteo_txt, tmp_path):
  from rec_jax import train  # pylint: disable=import-outside-toplevel
  runs = {}
  for streaming in (False, True):
    workdir = str(tmp_path / f"run_{streaming}")
    overrides = {"data.prefetch": 2} if streaming else {}
    runs[streaming] = train.train_and_evaluate(_config(criteo_txt, tmp_path, streaming, **overrides), workdir)
  assert runs[True]["metrics"] == runs[False]["metrics"]
  assert runs[True]["metrics"]["auc"] > 0.55
  memory, streamed = (str(tmp_path / f"run_{s}") for s in (False, True))
  report, streamed_report = _read(memory, "data_report.json"), _read(streamed, "data_report.json")
  assert streamed_report["splits"] == report["splits"] and streamed_report["source"] == report["source"]
  assert streamed_report["fitted_on_train"] == report["fitted_on_train"]
  vocabs = _read(memory, "feature_processor.json")["vocabs"]
  assert _read(streamed, "feature_processor.json")["vocabs"] == vocabs
  assert "int_tokens" in vocabs["C1"]   # Criteo's categories are read as hexadecimal numbers
  rows = {name: len(StoredRows(os.path.join(streamed, STORE_DIR, name))) for name in ("train", "validation", "test")}
  assert rows == {name: r["rows_kept"] for name, r in report["splits"].items()}


def test_a_prepared_store_is_read_again_and_changed_data_is_refused(criteo_txt, tmp_path):
  cfg = _config(criteo_txt, tmp_path, True)
  features = FeatureOptions.from_config(cfg.features, where="features")
  dataset = DATASETS.get("criteo").DATASET
  workdir = str(tmp_path / "run")
  os.makedirs(workdir)

  def prepare(data_cfg):
    return prepare_data(dataset, data_cfg, features, workdir, required_splits=("train", "validation", "test"))

  first = prepare(cfg.data)
  manifest = os.path.join(workdir, STORE_DIR, MANIFEST)
  written = os.stat(manifest).st_mtime_ns
  again = prepare(cfg.data)
  assert os.stat(manifest).st_mtime_ns == written   # read as it is
  assert again.processor.vocabs["C1"].tokens.tolist() == first.processor.vocabs["C1"].tokens.tolist()
  batch = again.splits["train"].rows.take([5, 1, 4000])
  assert batch.categorical["C3"].tolist() == first.splits["train"].rows.take([5, 1, 4000]).categorical["C3"].tolist()
  # The same file with its last 100 lines gone: another stored dataset, prepared again and refused by name.
  changed = str(tmp_path / "changed.txt")
  with open(criteo_txt) as f, open(changed, "w") as out:
    out.writelines(f.readlines()[:-100])
  cfg.data.path = changed
  with pytest.raises(UserError, match="split 'train' now has .* rows"):
    prepare(cfg.data)


@pytest.mark.parametrize("override, message", [
    ({"task": "retrieval"}, "pointwise tasks"),
    ({"features.history_length": 5}, "features.history_length=5"),
    ({"data.split": {"kind": "temporal"}}, "kind='temporal'"),
])
def test_what_streaming_cannot_do_is_refused_before_any_work(criteo_txt, tmp_path, override, message):
  cfg = _config(criteo_txt, tmp_path, True)
  for key, value in override.items():
    if key == "task":
      cfg.task = value
    elif key == "data.split":
      cfg.data.split.update(value)
    else:
      section, name = key.split(".")
      cfg[section][name] = value
  with pytest.raises(UserError, match=message):
    check_streaming(cfg)


def test_the_synthetic_shop_is_not_streamed():
  cfg = load_config(os.path.join(ROOT, "configs", "synthetic.py") + ":smoke")
  cfg.data.streaming = True
  with pytest.raises(UserError, match="made in memory"):
    preflight(cfg)


def test_other_processes_read_what_process_zero_prepared(criteo_txt, tmp_path, monkeypatch):
  from rec_jax import distributed  # pylint: disable=import-outside-toplevel
  cfg = _config(criteo_txt, tmp_path, True)
  features = FeatureOptions.from_config(cfg.features, where="features")
  dataset = DATASETS.get("criteo").DATASET
  prepared, empty = str(tmp_path / "prepared"), str(tmp_path / "empty")
  for workdir in (prepared, empty):
    os.makedirs(workdir)
  first = prepare_data(dataset, cfg.data, features, prepared, required_splits=("train",))
  monkeypatch.setattr(distributed, "is_primary", lambda: False)
  report = os.path.join(prepared, "data_report.json")
  os.remove(report)
  other = prepare_data(dataset, cfg.data, features, prepared, required_splits=("train",))
  assert not os.path.exists(report)   # process 0 alone writes the workdir's files
  assert other.splits["test"].rows.take([0, 7]).numeric["I3"].tolist() == \
      first.splits["test"].rows.take([0, 7]).numeric["I3"].tolist()
  with pytest.raises(UserError, match="process 0 did not prepare it"):
    prepare_data(dataset, cfg.data, features, empty, required_splits=("train",))
