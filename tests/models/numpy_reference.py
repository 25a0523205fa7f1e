"""Shared by the CF model tests: random parameters for a module, and numpy versions of the layers the tests
recompute models from (in float64)."""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx


def random_normal(seed: int, shape, scale: float = 1.0) -> np.ndarray:
  return (scale * np.random.default_rng(seed).normal(size=shape)).astype(np.float32)


def randomize_params(model, seed: int, scale: float):
  """Sets every nnx.Param of `model` to normal(0, scale) values (biases and LayerNorm offsets included, which start
  at zero or one and would hide a dropped term); returns the model."""
  leaves, treedef = jax.tree.flatten(nnx.state(model, nnx.Param))
  nnx.update(model, jax.tree.unflatten(treedef, [random_normal(seed + i, l.shape, scale)
                                                 for i, l in enumerate(leaves)]))
  return model


def param(variable) -> np.ndarray:
  return np.asarray(variable[...], np.float64)


def layer_norm(ln: nnx.LayerNorm, x: np.ndarray) -> np.ndarray:
  normalised = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + ln.epsilon)
  return normalised * param(ln.scale) + param(ln.bias)


def dense(linear: nnx.Linear, x: np.ndarray) -> np.ndarray:
  return x @ param(linear.kernel) + param(linear.bias)
