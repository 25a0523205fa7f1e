"""Task heads: from model logits to predictions and the training loss, keyed by the config's `task`."""

from __future__ import annotations

import dataclasses
from typing import Callable, Tuple

import jax
import jax.numpy as jnp
import optax

from rec_jax.registry import Registry

TASKS: Registry = Registry("task")


@dataclasses.dataclass(frozen=True)
class Task:
  loss: Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray]   # (logits, labels, weights) -> scalar
  predict: Callable[[jnp.ndarray], jnp.ndarray]
  requires: Tuple[str, ...] = ()   # `features` keys that must be set (non-empty) for this task

  def check(self, config) -> None:
    missing = [k for k in self.requires if not config.features.get(k, "")]
    if missing:
      raise ValueError(f"task={config.task!r} needs " + ", ".join(f"features.{k}" for k in missing)
                       + " (the column holding it)")


def _weighted_bce(logits, labels, weights):
  """Mean sigmoid cross-entropy over real rows (weight 0 rows are padding)."""
  losses = optax.sigmoid_binary_cross_entropy(logits, labels)
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


TASKS.register("ctr")(Task(loss=_weighted_bce, predict=jax.nn.sigmoid))
# Search: a user's query and the results shown for it; a click is scored from the query, the item and the user
# (the hybrid reads the query through `features.query`, see models/hybrid.py). Pointwise BCE, as learning-to-rank
# from clicks commonly starts; ndcg@K ranks within each session (`features.rank_group`).
TASKS.register("search")(Task(loss=_weighted_bce, predict=jax.nn.sigmoid, requires=("query",)))
