"""Biased matrix factorisation (Koren, Bell & Volinsky 2009): score = mu + b_u + b_i + <p_u, q_i>.

`model.name=mf`. mu is the label offset (the train mean rating under `task=rating`, else 0) plus a learned global
bias; ids only, no side features. Under `task=ctr` the score is a click logit.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from rec_jax.models.registry import MODELS


def id_init(model_cfg):
  return nnx.initializers.normal(stddev=model_cfg.get("embedding_init_std", 0.05))


@MODELS.register("mf")
class BiasedMF(nnx.Module):
  """batch (`user_id`, `item_id` [batch]) -> scores [batch]."""

  def __init__(self, model_cfg, feature_cfg, vocab_sizes, *, label_offset: float = 0.0, rngs: nnx.Rngs):
    del feature_cfg
    dim, init = model_cfg.cf_dim or model_cfg.embed_dim, id_init(model_cfg)
    zeros = nnx.initializers.zeros
    self.users = nnx.Embed(vocab_sizes["user_id"], dim, embedding_init=init, rngs=rngs)
    self.items = nnx.Embed(vocab_sizes["item_id"], dim, embedding_init=init, rngs=rngs)
    self.user_bias = nnx.Embed(vocab_sizes["user_id"], 1, embedding_init=zeros, rngs=rngs)
    self.item_bias = nnx.Embed(vocab_sizes["item_id"], 1, embedding_init=zeros, rngs=rngs)
    self.global_bias = nnx.Param(jnp.zeros(()))
    self.label_offset = label_offset

  def __call__(self, batch) -> jnp.ndarray:
    u, i = batch["user_id"], batch["item_id"]
    interaction = jnp.sum(self.users(u) * self.items(i), axis=-1)
    return (self.label_offset + self.global_bias[...] + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0]
            + interaction)
