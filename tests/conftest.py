"""Test setup: 4 forced host devices (set before JAX is imported) and a shared tiny synthetic shop."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """One TFDS data_dir per test session, so each tiny shop is generated once."""
  return str(tmp_path_factory.mktemp("tensorflow_datasets"))


@pytest.fixture
def smoke_config(tfds_dir):
  """The `:smoke` preset of configs/synthetic.py, writing its data into the session's data_dir."""
  from rec_jax.config_check import load_config
  cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic.py") + ":smoke")
  cfg.data.data_dir = tfds_dir
  return cfg
