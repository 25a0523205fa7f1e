"""The CF tower: user and item id embeddings, item popularity bias, and an encoded behaviour history."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import jax.numpy as jnp
from flax import nnx

from rec_jax.data.vocab import PAD
from rec_jax.models.cf.history import HISTORY

_INIT = nnx.initializers.normal(stddev=0.05)


class CFTower(nnx.Module):
  """batch -> user vector, item vector, history vector ([batch, dim] each) and item bias ([batch]).

  History items share the item table, so an item's id embedding is trained both as a target and as evidence of
  the interests of the users who clicked it. Unseen ids (cold items, new users) all map to the OOV row.
  """

  def __init__(self, num_users: int, num_items: int, dim: int, history: str, *, user_embedding: bool = True,
               history_options: Optional[Mapping[str, Any]] = None, rngs: nnx.Rngs):
    self.users = nnx.Embed(num_users, dim, embedding_init=_INIT, rngs=rngs) if user_embedding else None
    self.items = nnx.Embed(num_items, dim, embedding_init=_INIT, rngs=rngs)
    self.item_bias = nnx.Embed(num_items, 1, embedding_init=nnx.initializers.zeros, rngs=rngs)
    self.history = HISTORY.get(history)(dim, history_options or {}, rngs=rngs) if history != "none" else None

  def __call__(self, batch) -> Dict[str, jnp.ndarray]:
    out = {"item": self.items(batch["item_id"]), "item_bias": self.item_bias(batch["item_id"])[:, 0]}
    if self.users is not None:
      out["user"] = self.users(batch["user_id"])
    if self.history is not None:
      hist = batch["history"]
      out["history"] = self.history(self.items(hist), hist != PAD, out["item"])
    return out
