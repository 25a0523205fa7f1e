"""Shared by every TFDS builder of rec_jax (the synthetic shop, the real formats): preparing a dataset once under a
file lock, and decoding the strings TFDS gives back."""

from __future__ import annotations

import fcntl
import os

import numpy as np

from rec_jax.progress import bar


def prepare_once(builder_cls, config, data_dir: str):
  """The builder of `config` in `data_dir`, its dataset generated if missing. Runs of a parallel sweep may all ask
  for the same dataset at once: one generates it, the others wait for it and then open it (a builder made before
  the dataset exists would keep seeing no splits)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel  (slow; only when used)
  data_dir = os.path.expanduser(data_dir)
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, f".{config.name}.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      builder = builder_cls(config=config, data_dir=data_dir, file_format="array_record")
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return builder


def decode_strings(values: np.ndarray) -> np.ndarray:
  """TFDS string tensors (bytes) as an object array of `str`; other dtypes unchanged."""
  if values.dtype == object or values.dtype.kind == "S":
    return np.array([v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values],
                    dtype=object)
  return values


def read_row_groups(source, desc: str, chunk: int = 16) -> list:
  """Every example of a TFDS data source (row groups of columns), read `chunk` at a time behind a progress bar."""
  groups = []
  for start in bar(range(0, len(source), chunk), total=-(-len(source) // chunk), desc=desc, unit="chunk"):
    groups.extend(source.__getitems__(list(range(start, min(start + chunk, len(source))))))
  return groups
