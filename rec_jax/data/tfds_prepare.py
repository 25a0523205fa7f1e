"""Shared by every TFDS builder of rec_jax (the synthetic shop, the real formats): preparing a dataset once under a
file lock, and decoding the strings TFDS gives back.

TFDS's noise about our own datasets is silenced, nothing else of it: the ~2 KB "Using custom data configuration"
warning it logs for every builder config of ours (each config is "custom": named by a digest of its files or spec),
the "Downloading and preparing dataset ..." / "Dataset ... downloaded and prepared" lines it prints to stdout for a
dataset generated here from data.path or a spec (`LocalBuild`; kept when TFDS does download the files), and its
progress bars when stderr is not a terminal (a log file of `\r` redraws).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import types

import numpy as np

from rec_jax.progress import bar

_CUSTOM_CONFIG = "Using custom data configuration: %s"


class QuietOwnConfigs(logging.Filter):
  """Drops TFDS's "Using custom data configuration" record when the config is one of rec_jax's (its class lives in a
  rec_jax module); every other record passes."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.msg != _CUSTOM_CONFIG or not isinstance(record.args, tuple) or not record.args:
      return True
    return not type(record.args[0]).__module__.startswith("rec_jax.")


_FILTER = QuietOwnConfigs()


def quiet_tfds() -> None:
  """Installs the filter on TFDS's logger (absl's; idempotent) and turns TFDS's progress bars off when stderr is
  not a terminal."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  absl_logger = logging.getLogger("absl")
  if _FILTER not in absl_logger.filters:
    absl_logger.addFilter(_FILTER)
  if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
    tfds.disable_progress_bar()


class LocalBuild:
  """Mixin of rec_jax's TFDS builders (before tfds.core.GeneratorBasedBuilder in the bases): a dataset generated
  locally (`generated_locally`: from data.path or a spec) logs one INFO line instead of TFDS's "Downloading and
  preparing dataset Unknown size ..." and "Dataset ... downloaded and prepared" prints (there is no download)."""

  generated_locally = True

  def _log_download_bytes(self) -> None:
    if not self.generated_locally:
      return super()._log_download_bytes()
    logging.info("generating dataset %s in %s", self.info.full_name, self.data_dir)
    return None

  def _log_download_done(self) -> None:
    if not self.generated_locally:
      return super()._log_download_done()
    return None


class _LocalGfile:
  """The calls TFDS's shuffle.py makes of `tf.io.gfile`, on Python's own files."""
  GFile = staticmethod(open)
  exists = staticmethod(os.path.exists)
  remove = staticmethod(os.remove)


class _NeverRaised(Exception):
  pass


class _LocalTf:
  io = types.SimpleNamespace(gfile=_LocalGfile)
  errors = types.SimpleNamespace(ResourceExhaustedError=_NeverRaised)


def tf_free_spill() -> None:
  """TFDS holds a split's serialised examples in memory up to 1 GB, then spills them to bucket files through
  `tf.io.gfile`, which needs TensorFlow (a 45M-row Criteo file fails there). rec_jax is TF-free: without
  TensorFlow installed, TFDS's shuffle module gets local files for those calls (nothing else of TFDS is touched)."""
  try:
    import tensorflow  # pylint: disable=import-outside-toplevel,unused-import
    return
  except ImportError:
    pass
  from tensorflow_datasets.core import shuffle  # pylint: disable=import-outside-toplevel
  shuffle.tf = _LocalTf


def no_gcs_metadata_tempdirs() -> None:
  """A TFDS builder made before its dataset exists looks for the dataset's metadata on GCS, first making an empty
  temporary directory that it never removes (one per build left in /tmp: hundreds after a test run), even when GCS
  access is off, as TFDS has it by default. With GCS off the lookup is skipped (it would find nothing)."""
  from tensorflow_datasets.core import dataset_info  # pylint: disable=import-outside-toplevel
  from tensorflow_datasets.core.utils import gcs_utils  # pylint: disable=import-outside-toplevel
  original = dataset_info.DatasetInfo.initialize_from_bucket
  if getattr(original, "rec_jax_patched", False):
    return

  def initialize_from_bucket(self):
    if getattr(gcs_utils, "_is_gcs_disabled", False):
      return None
    return original(self)

  initialize_from_bucket.rec_jax_patched = True
  dataset_info.DatasetInfo.initialize_from_bucket = initialize_from_bucket


def prepare_once(builder_cls, config, data_dir: str, **builder_kwargs):
  """The builder of `config` in `data_dir`, its dataset generated if missing. Runs of a parallel sweep may all ask
  for the same dataset at once: one generates it, the others wait for it and then open it (a builder made before
  the dataset exists would keep seeing no splits). `builder_kwargs` go to the builder (e.g. the error budget)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel  (slow; only when used)
  quiet_tfds()
  tf_free_spill()
  no_gcs_metadata_tempdirs()
  data_dir = os.path.expanduser(data_dir)
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, f".{config.name}.lock"), "a+") as lock:
    _lock_naming_the_holder(lock, f"dataset {config.name} in {data_dir}")
    try:
      builder = builder_cls(config=config, data_dir=data_dir, file_format="array_record", **builder_kwargs)
      builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return builder


def _lock_naming_the_holder(lock, what: str) -> None:
  """Takes the exclusive lock of `lock` (a file opened "a+"), saying which process it waits for when another
  holds it (a long build, or a stopped process: the log names it rather than hanging in silence); then writes
  this process's pid into it."""
  try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    lock.seek(0)
    holder = lock.read().strip() or "unknown"
    logging.warning("waiting for process %s, which is preparing %s", holder, what)
    fcntl.flock(lock, fcntl.LOCK_EX)
  lock.seek(0)
  lock.truncate()
  lock.write(str(os.getpid()))
  lock.flush()


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
