"""rec_jax/data/tfds_prepare.py: building a dataset leaves nothing behind in the temporary directory."""

import os
import tempfile

import ml_collections

from rec_jax.data.datasets import load_dataset
from tests.reliability import data_files as F


def test_a_build_leaves_no_temporary_directory(tmp_path, monkeypatch):
  """TFDS made an empty `tmp*tfds` directory per build (its GCS metadata lookup, with GCS off) and never removed
  it; 843 of them were in /tmp after one run of the test suite."""
  scratch = tmp_path / "scratch"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  path = F.write(tmp_path / "data" / "data.txt", [f"{u} {i}" for u, i in F.PAIRS])
  cfg = ml_collections.ConfigDict(dict(
      name="sequence_txt", path=str(path), data_dir=str(tmp_path / "tfds"), options={}, max_bad_fraction=0.0,
      implicit_threshold=0.0, split=dict(kind="random", ratios=(0.8, 0.1, 0.1), seed=0, cold_item_fraction=0.0,
                                         fold="", folds=(), validation_fraction=0.1)))
  raw = load_dataset(cfg)
  assert sum(len(s["user_id"]) for s in raw.splits.values()) == len(F.PAIRS)
  assert os.listdir(scratch) == []
