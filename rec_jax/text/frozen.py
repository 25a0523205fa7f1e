"""Frozen weights: part of the model's forward pass, never trained.

A `Frozen` variable sits where an `nnx.Param` would, so a module runs unchanged; training splits the model with
`nnx.split(model, nnx.Param, ...)` and differentiates and optimises only the `Param` part. Frozen weights get no
gradient, no optimizer state and no weight decay, and JAX prunes the backward pass below the lowest trainable one.
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np
from flax import nnx


class Frozen(nnx.Variable):
  """A weight used by the forward pass but not trained (e.g. a pretrained BERT layer under LoRA)."""


def freeze(module: nnx.Module) -> nnx.Module:
  """Turns every `nnx.Param` of `module` and its submodules into `Frozen`, in place; returns `module`."""
  for _, sub in nnx.iter_modules(module):
    for name, value in list(vars(sub).items()):
      if type(value) is nnx.Param:  # pylint: disable=unidiomatic-typecheck  (subclasses keep their own type)
        setattr(sub, name, Frozen(value[...]))
  return module


def weights(state):
  """A state without its random streams (dropout's key and counter, which the trainer reseeds every step)."""
  return nnx.filter_state(state, nnx.Not(nnx.RngState)) if isinstance(state, nnx.State) else state


def count_parameters(state) -> int:
  """Number of scalars in a state / pytree of arrays (random streams are no parameters)."""
  return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(weights(state))))


def fingerprint(state) -> str:
  """Hex SHA-256 of a state's paths, shapes, dtypes and values: identifies the frozen weights of a run."""
  digest = hashlib.sha256()
  for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(weights(state)), key=lambda kv: jax.tree_util.keystr(kv[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{array.shape}|{array.dtype}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()
