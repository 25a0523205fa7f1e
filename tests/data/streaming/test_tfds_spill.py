"""A stored log larger than TFDS's in-memory buffer: TFDS spills it to bucket files, which without TensorFlow go
through local files (tfds_prepare.tf_free_spill), and the row groups come back in file order, as unspilled."""

import numpy as np

from rec_jax.data.datasets import DATASETS
from rec_jax.data.generators.criteo_like import CriteoSpec, scaled_vocab, write
from rec_jax.data.tfds_prepare import _LocalGfile, tf_free_spill
from tests.data.streaming.test_prepare import _config


def _stored(path, tmp_path, name):
  cfg = _config(path, tmp_path / name, True)
  log = DATASETS.get("criteo").DATASET.stored(cfg.data)
  return {k: np.concatenate([b[k] for b in log.blocks(2)]) for k in ("order", "C3", "I5", "label")}


def test_a_spilled_split_reads_back_in_file_order(tmp_path, monkeypatch):
  from tensorflow_datasets.core import shuffle  # pylint: disable=import-outside-toplevel
  path = str(tmp_path / "train.txt")
  write(CriteoSpec(rows=20_000, seed=1, vocab_sizes=scaled_vocab(20_000)), path)
  whole = _stored(path, tmp_path, "memory")
  monkeypatch.setattr(shuffle, "MAX_MEM_BUFFER_SIZE", 100_000)   # ~5 row groups, then bucket files
  opened = []
  monkeypatch.setattr(_LocalGfile, "GFile", staticmethod(lambda p, mode: opened.append(mode) or open(p, mode)))
  tf_free_spill()
  spilled = _stored(path, tmp_path, "spilled")
  assert "wb" in opened and "rb" in opened   # it did spill, through local files
  assert len(whole["order"]) == 20_000 and (np.diff(spilled["order"]) > 0).all()
  for name, values in whole.items():
    np.testing.assert_array_equal(spilled[name], values)
