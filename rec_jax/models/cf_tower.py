"""The CF tower: user and item id embeddings, item popularity bias, and an encoded behaviour history."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import PAD, Batch
from rec_jax.models.id_embedding import IdEmbed

_INIT = nnx.initializers.normal(stddev=0.05)
# (dim, rngs) -> a history encoder (rec_jax/models/history/), as the builder (rec_jax/experiment.py) makes it.
HistoryFactory = Callable[[int, nnx.Rngs], nnx.Module]


class CFTower(nnx.Module):
  """batch -> user vector, item vector, history vector ([batch, dim] each) and item bias ([batch]).

  History items share the item table, so an item's id embedding is trained both as a target and as evidence of
  the interests of the users who clicked it. Unseen ids (cold items, new users) all map to the OOV row.
  """

  def __init__(self, num_users: int, num_items: int, dim: int, history: Optional[HistoryFactory] = None, *,
               user_embedding: bool = True, rngs: nnx.Rngs):
    self.users = IdEmbed(num_users, dim, embedding_init=_INIT, rngs=rngs) if user_embedding else None
    self.items = IdEmbed(num_items, dim, embedding_init=_INIT, rngs=rngs)
    self.item_bias = IdEmbed(num_items, 1, embedding_init=nnx.initializers.zeros, rngs=rngs)
    self.history = history(dim, rngs) if history is not None else None

  def __call__(self, batch: Batch) -> Dict[str, jnp.ndarray]:
    out = {"item": self.items(batch.item_id), "item_bias": self.item_bias(batch.item_id)[:, 0]}
    if self.users is not None:
      out["user"] = self.users(batch.user_id)
    if self.history is not None:
      hist = batch.history
      out["history"] = self.history(self.items(hist), hist != PAD, out["item"])
    return out
