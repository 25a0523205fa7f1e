"""Biased matrix factorisation (Koren, Bell & Volinsky 2009): score = mu + b_u + b_i + <p_u, q_i>, optionally with
side features (SVDFeature, Chen et al. 2012) and implicit feedback (SVD++, Koren 2008):

  score = mu + b_u + b_i + sum_f b_f  +  < p_u + sum_{f in user features} a_f + |N(u)|^-1/2 sum_{j in N(u)} y_j ,
                                          q_i + sum_{f in item features} c_f >

`model.name=mf`. mu is the label offset (the train mean rating under `task=rating`, else 0) plus a learned global
bias. `model.cf_options.side_features` adds, for each categorical feature of `features.user_features` and
`features.item_features`, a bias b_f and a factor (a_f on the user side, c_f on the item side); `implicit` adds
SVD++'s implicit-feedback vector over N(u), the row's history (`features.history`: the user's earlier interactions
of the same or an earlier split, never a later one), with its own item table y. Under `task=ctr` the score is a
click logit. The literature's regularisation is `train.embedding_l2` (rec_jax/models/id_embedding.py).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.batch import PAD, Batch
from rec_jax.errors import UserError
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.models.options import Components, ModelInputs, ModelOptions


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  side_features: bool = False   # SVDFeature: user/item categorical features add a bias and a factor to their side
  implicit: bool = False        # SVD++: the user factor adds |N(u)|^-1/2 sum of y_j over the row's history


def id_init(opts: ModelOptions):
  return nnx.initializers.normal(stddev=opts.embedding_init_std)


def _categorical(inputs: ModelInputs, side: Sequence[str]) -> Sequence[str]:
  return tuple(f for f in side if f in inputs.categorical)


class BiasedMF(nnx.Module):
  """batch (`user_id`, `item_id` [batch]; `categorical`, `history` with the options) -> scores [batch]."""

  def __init__(self, opts: ModelOptions, vocab_sizes, *, label_offset: float = 0.0, own: Options = Options(),
               user_features: Sequence[str] = (), item_features: Sequence[str] = (), rngs: nnx.Rngs):
    dim, init = opts.cf_dim or opts.embed_dim, id_init(opts)
    zeros = nnx.initializers.zeros
    self.users = IdEmbed(vocab_sizes["user_id"], dim, embedding_init=init, rngs=rngs)
    self.items = IdEmbed(vocab_sizes["item_id"], dim, embedding_init=init, rngs=rngs)
    self.user_bias = IdEmbed(vocab_sizes["user_id"], 1, embedding_init=zeros, rngs=rngs)
    self.item_bias = IdEmbed(vocab_sizes["item_id"], 1, embedding_init=zeros, rngs=rngs)
    self.global_bias = nnx.Param(jnp.zeros(()))
    self.label_offset = label_offset
    self.user_features, self.item_features = tuple(user_features), tuple(item_features)
    features = self.user_features + self.item_features
    self.feature_factors = nnx.Dict({f: IdEmbed(vocab_sizes[f], dim, embedding_init=init, rngs=rngs)
                                     for f in features})
    self.feature_bias = nnx.Dict({f: IdEmbed(vocab_sizes[f], 1, embedding_init=zeros, rngs=rngs) for f in features})
    self.implicit = (IdEmbed(vocab_sizes["item_id"], dim, embedding_init=init, rngs=rngs) if own.implicit
                     else None)

  def _implicit_vector(self, history: jnp.ndarray) -> jnp.ndarray:
    """|N(u)|^-1/2 sum_j y_j over the history's real items [batch, length] -> [batch, dim]."""
    mask = (history != PAD).astype(jnp.float32)
    total = jnp.sum(self.implicit(history) * mask[..., None], axis=1)
    return total * inverse_sqrt(jnp.sum(mask, axis=1))[:, None]

  def __call__(self, batch: Batch) -> jnp.ndarray:
    u, i = batch.user_id, batch.item_id
    user, item = self.users(u), self.items(i)
    bias = self.global_bias[...] + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0]
    for f in self.user_features + self.item_features:
      ids = batch.categorical[f]
      bias += self.feature_bias[f](ids)[:, 0]
      if f in self.user_features:
        user += self.feature_factors[f](ids)
      else:
        item += self.feature_factors[f](ids)
    if self.implicit is not None:
      user += self._implicit_vector(batch.history)
    return self.label_offset + bias + jnp.sum(user * item, axis=-1)


def inverse_sqrt(count: jnp.ndarray) -> jnp.ndarray:
  """1/sqrt(count), 0 for an empty history."""
  return jnp.where(count > 0, 1.0 / jnp.sqrt(jnp.maximum(count, 1.0)), 0.0)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *, rngs: nnx.Rngs) -> BiasedMF:
  del parts
  users = _categorical(inputs, inputs.user_features) if own.side_features else ()
  items = _categorical(inputs, inputs.item_features) if own.side_features else ()
  if own.side_features and not users + items:
    raise UserError("model.cf_options.side_features=True, but no categorical feature (features.categorical) is "
                    "named in features.user_features or features.item_features")
  return BiasedMF(opts, inputs.vocab_sizes, label_offset=inputs.label_offset, own=own, user_features=users,
                  item_features=items, rngs=rngs)
