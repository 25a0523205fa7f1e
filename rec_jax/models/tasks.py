"""Task heads: from model logits to predictions and the training loss, keyed by the config's `task`."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from rec_jax.registry import Registry

TASKS: Registry = Registry("task")


@dataclasses.dataclass(frozen=True)
class Task:
  loss: Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]   # (logits, labels, weights) -> scalar
  predict: Callable[[jnp.ndarray], jnp.ndarray]


def _weighted_bce(logits, labels, weights):
  """Mean sigmoid cross-entropy over real rows (weight 0 rows are padding)."""
  losses = optax.sigmoid_binary_cross_entropy(logits, labels)
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


TASKS.register("ctr")(Task(loss=_weighted_bce, predict=jax.nn.sigmoid))
