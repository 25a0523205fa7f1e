"""The README's extension examples (a feature cross, a model, a task, a dataset), written into their packages
exactly as the README shows them, each found by its config string alone and trained end to end; and a module
outside rec_jax named by its dotted path."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys

import numpy as np
import pytest

from rec_jax import train
from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.loader import load_config
from rec_jax.experiment import build_cross

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"<!-- file: (\S+) -->\n```python\n(.*?)```", re.S)
FILES = ("rec_jax/models/crosses/my_cross.py", "rec_jax/models/zoo/my_model.py", "rec_jax/tasks/my_task.py",
         "rec_jax/data/datasets/my_csv.py")


def readme_files() -> dict:
  with open(os.path.join(ROOT, "README.md")) as f:
    return dict(BLOCK.findall(f.read()))


@pytest.fixture
def extended(tmp_path, monkeypatch):
  """The README's files in a directory of their own, joined to the packages they extend (as if added to them)."""
  files = readme_files()
  assert tuple(files) == FILES
  for path, code in files.items():
    target = tmp_path / "added" / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(code)
    package = importlib.import_module(os.path.dirname(path).replace("/", "."))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(target.parent)])
  importlib.invalidate_caches()
  yield files
  for path in files:
    sys.modules.pop(path[:-len(".py")].replace("/", "."), None)


def _shop_smoke(tfds_dir, **overrides):
  cfg = load_config(os.path.join(ROOT, "configs", "synthetic.py") + ":smoke")
  cfg.data.data_dir = tfds_dir
  cfg.train.num_steps = cfg.eval.every_steps = cfg.checkpoint.every_steps = 10
  for key, value in overrides.items():
    section, _, leaf = key.rpartition(".")
    node = cfg
    for part in filter(None, section.split(".")):
      node = node[part]
    node[leaf] = value
  return cfg


@pytest.mark.usefixtures("extended")
def test_a_new_cross_is_found_by_name_and_its_options_are_in_the_base_config(tfds_dir, tmp_path):
  # (Without the text tower, whose compiling would dominate the test.)
  cfg = _shop_smoke(tfds_dir, **{"model.cross": "my_cross", "model.cross_options.scale": 2.0,
                                 "model.use_text": False})
  assert load_config(os.path.join(ROOT, "configs", "synthetic.py")).model.cross_options.scale == 1.0
  result = train.train_and_evaluate(cfg, str(tmp_path / "cross"))
  assert np.isfinite(result["metrics"]["auc"])
  with open(tmp_path / "cross" / "config.json") as f:
    assert json.load(f)["model"]["cross_options"]["scale"] == 2.0
  cross = build_cross("my_cross", 3, 4, {"scale": 2.0}, rngs=None)
  assert cross.scale == 2.0 and cross.out_dim == 4 and cross.parallel_deep


@pytest.mark.usefixtures("extended")
def test_a_new_dataset_model_and_task_train_together(tmp_path):
  os.makedirs(tmp_path / "csv")
  rng = np.random.default_rng(0)
  lines = ["user,item,rating,timestamp"] + [f"u{u},i{rng.integers(12)},{rng.integers(1, 6)},{100 * u + k}"
                                            for u in range(30) for k in range(10)]
  (tmp_path / "csv" / "ratings.csv").write_text("\n".join(lines + ["u1,i2,high,7"]) + "\n")
  # Clicks: ratings of 4 and 5.
  cfg = use_real_dataset(base_config(), "my_csv", options={}, split=dict(kind="random"), implicit_threshold=4.0)
  cfg.data.path, cfg.data.data_dir = str(tmp_path / "csv"), str(tmp_path / "tfds")
  cfg.task = "my_task"
  cfg.model.update(name="my_model", use_text=False, use_cf=False)
  cfg.train.update(num_steps=10, batch_size=32, warmup_steps=2)
  cfg.eval.update(every_steps=10, batch_size=64)
  cfg.checkpoint.every_steps = 10
  result = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  assert np.isfinite(result["metrics"]["auc"]) and result["best_metric"] == ["auc", "max"]
  with open(tmp_path / "run" / "data_report.json") as f:
    ratings = json.load(f)["source"]["files"]["ratings"]
  assert ratings["lines_read"] == 301 and ratings["lines_kept"] == 300
  assert ratings["dropped"] == {"non-numeric value": 1}
  with open(tmp_path / "run" / "feature_processor.json") as f:
    vocabs = json.load(f)["vocabs"]
  # A bias per user and per item of the vocabularies (each with its PAD and OOV rows).
  assert result["parameters"]["trainable"] == len(vocabs["user_id"]) + 2 + len(vocabs["item_id"]) + 2


def test_a_module_outside_rec_jax_is_named_by_its_dotted_path(tmp_path, monkeypatch):
  package = tmp_path / "my_project"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "my_cross.py").write_text(readme_files()["rec_jax/models/crosses/my_cross.py"])
  monkeypatch.syspath_prepend(str(tmp_path))
  try:
    assert build_cross("my_project.my_cross", 3, 4, {"scale": 3.0}, rngs=None).scale == 3.0
    with pytest.raises(KeyError, match="unknown feature cross 'my_project.nope'"):
      build_cross("my_project.nope", 3, 4, {}, rngs=None)
  finally:
    for name in ("my_project", "my_project.my_cross"):
      sys.modules.pop(name, None)
