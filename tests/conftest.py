"""Test setup: 4 forced host devices (set before JAX is imported) and a shared tiny synthetic shop."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# No persistent compilation cache: with JAX's on-disk cache a worker died in XLA three times (Fatal Python error:
# Aborted, inside a jitted train step of tests/test_zoo.py; once with an entry of an earlier run, once with one cache
# shared by both workers, once with one fresh cache per worker and run). Deserialising XLA:CPU executables is not
# safe enough to put under every test; the tests compile from scratch instead (about 30 % slower in test_zoo.py).
os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)

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
