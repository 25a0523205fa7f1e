"""Test setup: 4 forced host devices (set before JAX is imported) and a shared tiny synthetic shop."""

import os
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests build the same tiny models over and over (and in subprocesses): JAX's persistent compilation cache lets every
# build after the first reuse the compiled steps (about 40 % of a resume test's time). One cache per xdist worker
# (shared with that worker's subprocesses, which run while it waits) and new for each run: an executable cached by
# an earlier run (older code, other flags) was seen to abort XLA when loaded (tests/test_zoo.py's mf, after a change
# to the model), and with one cache for both workers a worker once died in XLA mid-run (cause not pinned down; one
# worker reading an entry the other was still writing is the likely one, and separate caches rule it out).
# (Workers inherit the controller's environment, so the worker's suffix is added here, once.)
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
_CACHE = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(tempfile.gettempdir(),
                                                                     f"rec_jax_tests_jax_cache_{_RUN}")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and not _CACHE.endswith("_" + _WORKER):
  _CACHE += "_" + _WORKER
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """One TFDS data_dir per test session, so each tiny shop is generated once."""
  return str(tmp_path_factory.mktemp("tensorflow_datasets"))


@pytest.fixture
def smoke_config(tfds_dir):
  """The `:smoke` preset of configs/synthetic.py, writing its data into the session's data_dir."""
  from rec_jax.config.loader import load_config
  cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic.py") + ":smoke")
  cfg.data.data_dir = tfds_dir
  return cfg


@pytest.fixture(scope="session")
def trained_smoke_run(tfds_dir, tmp_path_factory):
  """One finished `:smoke` run of the default hybrid (text + CF + DeepFM), shared by the tests that read a workdir
  (rec_jax.analysis, the notebooks; they share an xdist_group, so one worker trains it once)."""
  from rec_jax import train
  from rec_jax.config.loader import load_config
  cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic.py") + ":smoke")
  cfg.data.data_dir = tfds_dir
  workdir = str(tmp_path_factory.mktemp("smoke_run"))
  train.train_and_evaluate(cfg, workdir)
  return workdir
