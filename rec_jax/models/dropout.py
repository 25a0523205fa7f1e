"""Dropout that exists only where it is asked for, active only in training, with masks a pure function of
(seed, step).

Models are built in evaluation mode (experiment.build_model calls `model.eval()`, which sets every `deterministic`
attribute); the trainer traces its step on the training view (`model.train()`) and gives every `Dropout` of the
model its own key for the step (`reseed`, train_step.py), so a resumed run draws the masks an uninterrupted one
would. A `Dropout` reads its key and never advances it (nnx's own Dropout advances a counter, which cannot happen
inside jax.grad): each use of dropout in a model is its own `Dropout` module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.errors import UserError


class DropoutKey(nnx.RngState):
  """A Dropout's key for the current step: random state, not a weight (never trained, counted or fingerprinted)."""


class Dropout(nnx.Module):
  """x -> x * mask / (1 - rate), mask ~ Bernoulli(1 - rate) from this step's key, in training; x in evaluation."""

  def __init__(self, rate: float):
    self.rate = rate
    self.deterministic = False
    self.key = DropoutKey(jax.random.key_data(jax.random.key(0)))

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.deterministic:
      return x
    return jnp.where(self.keep(x.shape), x / (1.0 - self.rate), jnp.zeros_like(x))

  def keep(self, shape) -> jax.Array:
    """This step's mask of `shape`: True with probability 1 - rate (for dropout of something other than a
    tensor's entries, e.g. whole items' ids); call it only in training."""
    return jax.random.bernoulli(jax.random.wrap_key_data(self.key[...]), 1.0 - self.rate, shape)


def dropout(rate: float):
  """A `Dropout` of `rate`, or None for 0 (no module: a dropout-free model is unchanged)."""
  if not 0 <= rate < 1:
    raise UserError(f"dropout rate {rate} must be in [0, 1)")
  return Dropout(rate) if rate else None


def apply_dropout(layer, x: jax.Array) -> jax.Array:
  return x if layer is None else layer(x)


def reseed(model: nnx.Module, key) -> None:
  """Gives the i-th Dropout of `model` (in graph order) the key fold_in(key, i), in place."""
  layers = [m for _, m in nnx.iter_modules(model) if isinstance(m, Dropout)]
  for i, layer in enumerate(layers):
    layer.key[...] = jax.random.key_data(jax.random.fold_in(key, i))
