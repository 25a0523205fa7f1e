"""parallel.cpu_dots: the flag lands in XLA_FLAGS before JAX starts, never after, and a user's own setting wins."""

import os
import subprocess
import sys

import pytest

from rec_jax.xla_cpu import YNN_FLAG, select_cpu_dots

PROBE = """
import os, sys
from rec_jax.xla_cpu import select_cpu_dots
print(select_cpu_dots(sys.argv[1]))
import jax.numpy as jnp
print(float(jnp.dot(jnp.ones((64, 64)), jnp.ones((64, 64)))[0, 0]))
"""


def _probe(library, xla_flags=""):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["XLA_FLAGS"] = xla_flags
  out = subprocess.run([sys.executable, "-c", PROBE, library], env=env, capture_output=True, text=True, check=True)
  return out.stdout.split("\n")[:2]


def test_eigen_dots_set_the_flag_and_jax_runs_with_it():
  flags, value = _probe("eigen")
  assert flags == f"{YNN_FLAG}=" and value == "64.0"
  assert _probe("default")[0] == ""
  # A user's own choice of the YNNPACK fusions is kept as it is.
  assert _probe("eigen", f"{YNN_FLAG}=dot")[0] == f"{YNN_FLAG}=dot"


def test_after_jax_started_or_unknown_is_a_named_error():
  import jax  # pylint: disable=import-outside-toplevel
  jax.devices()  # The backend has started (the test session's 4 forced devices).
  if YNN_FLAG not in os.environ.get("XLA_FLAGS", ""):
    with pytest.raises(ValueError, match="before JAX starts"):
      select_cpu_dots("eigen")
  with pytest.raises(ValueError, match="cpu_dots='mkl'"):
    select_cpu_dots("mkl")
