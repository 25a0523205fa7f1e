"""Biased matrix factorisation (Koren, Bell & Volinsky 2009): score = mu + b_u + b_i + <p_u, q_i>.

`model.name=mf`. mu is the label offset (the train mean rating under `task=rating`, else 0) plus a learned global
bias; ids only, no side features. Under `task=ctr` the score is a click logit.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import Batch
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.options import NoOptions as Options


def id_init(opts: ModelOptions):
  return nnx.initializers.normal(stddev=opts.embedding_init_std)


class BiasedMF(nnx.Module):
  """batch (`user_id`, `item_id` [batch]) -> scores [batch]."""

  def __init__(self, opts: ModelOptions, vocab_sizes, *, label_offset: float = 0.0, rngs: nnx.Rngs):
    dim, init = opts.cf_dim or opts.embed_dim, id_init(opts)
    zeros = nnx.initializers.zeros
    self.users = nnx.Embed(vocab_sizes["user_id"], dim, embedding_init=init, rngs=rngs)
    self.items = nnx.Embed(vocab_sizes["item_id"], dim, embedding_init=init, rngs=rngs)
    self.user_bias = nnx.Embed(vocab_sizes["user_id"], 1, embedding_init=zeros, rngs=rngs)
    self.item_bias = nnx.Embed(vocab_sizes["item_id"], 1, embedding_init=zeros, rngs=rngs)
    self.global_bias = nnx.Param(jnp.zeros(()))
    self.label_offset = label_offset

  def __call__(self, batch: Batch) -> jnp.ndarray:
    u, i = batch.user_id, batch.item_id
    interaction = jnp.sum(self.users(u) * self.items(i), axis=-1)
    return (self.label_offset + self.global_bias[...] + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0]
            + interaction)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *, rngs: nnx.Rngs) -> BiasedMF:
  del own, parts
  return BiasedMF(opts, inputs.vocab_sizes, label_offset=inputs.label_offset, rngs=rngs)
