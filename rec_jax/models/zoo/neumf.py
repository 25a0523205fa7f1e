"""NeuMF (He et al., WWW 2017): generalised MF (p_u ⊙ q_i) beside an MLP over [p_u; q_i], with separate embeddings,
fused by one linear layer into the score.

`model.name=neumf`; `model.cf_options.mlp` is the MLP tower (the paper's pyramid, default (64, 32, 16));
`model.cf_dim` (0 = `embed_dim`) the GMF embedding width; the MLP embeddings are half the tower's first layer wide,
as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.batch import Batch
from rec_jax.errors import UserError
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.models.mlp import MLP
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.models.zoo.mf import id_init


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  mlp: Tuple[int, ...] = (64, 32, 16)   # the MLP pathway over [p_u; q_i]


class NeuMF(nnx.Module):
  """batch (`user_id`, `item_id` [batch]) -> scores [batch]."""

  def __init__(self, opts: ModelOptions, own: Options, vocab_sizes, *, label_offset: float = 0.0,
               rngs: nnx.Rngs):
    gmf_dim, init = opts.cf_dim or opts.embed_dim, id_init(opts)
    tower = tuple(own.mlp)
    if not tower or tower[0] % 2:
      raise UserError(f"model.cf_options.mlp={tower}: NeuMF needs a non-empty tower whose first layer is even "
                      "(its input is the user and item MLP embeddings, half as wide each)")
    num_users, num_items = vocab_sizes["user_id"], vocab_sizes["item_id"]
    self.gmf_users = IdEmbed(num_users, gmf_dim, embedding_init=init, rngs=rngs)
    self.gmf_items = IdEmbed(num_items, gmf_dim, embedding_init=init, rngs=rngs)
    self.mlp_users = IdEmbed(num_users, tower[0] // 2, embedding_init=init, rngs=rngs)
    self.mlp_items = IdEmbed(num_items, tower[0] // 2, embedding_init=init, rngs=rngs)
    self.mlp = MLP(tower[0], tower[1:], rngs=rngs)
    self.fuse = nnx.Linear(gmf_dim + self.mlp.out_dim, 1, rngs=rngs)
    self.label_offset = label_offset

  def __call__(self, batch: Batch) -> jnp.ndarray:
    u, i = batch.user_id, batch.item_id
    gmf = self.gmf_users(u) * self.gmf_items(i)
    mlp = self.mlp(jnp.concatenate([self.mlp_users(u), self.mlp_items(i)], axis=-1))
    return self.label_offset + self.fuse(jnp.concatenate([gmf, mlp], axis=-1))[:, 0]


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *, rngs: nnx.Rngs) -> NeuMF:
  del parts
  return NeuMF(opts, own, inputs.vocab_sizes, label_offset=inputs.label_offset, rngs=rngs)
