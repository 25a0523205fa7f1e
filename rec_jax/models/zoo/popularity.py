"""Popularity (RecBole's `Pop`): one learned score per item and nothing about the user, the reference point every
ranking model must beat.

`model.name=popularity`. Trained with the ranking tasks' softmax over items (`task=next_item` or `retrieval`), the
score converges to the log of each item's share of the train clicks. The query vector is the constant 1 and an
item's candidate vector its score, so the dot product ranks every user's catalogue by popularity; new items share
the OOV id's score.
"""

from __future__ import annotations

from typing import Dict

import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import Batch
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.options import NoOptions as Options


class Popularity(nnx.Module):
  """query_vectors -> ones [batch, 1]; candidate_vectors -> the item's score [batch, 1]."""

  def __init__(self, vocab_sizes: Dict[str, int], *, label_offset: float = 0.0, rngs: nnx.Rngs):
    self.scores = nnx.Embed(vocab_sizes["item_id"], 1, embedding_init=nnx.initializers.zeros, rngs=rngs)
    self.label_offset = label_offset

  def item_table(self) -> jnp.ndarray:
    return self.scores.embedding[...]

  def query_vectors(self, batch: Batch) -> jnp.ndarray:
    return jnp.ones(batch.item_id.shape + (1,), jnp.float32)

  def candidate_vectors(self, batch: Batch) -> jnp.ndarray:
    return self.scores(batch.item_id)

  def __call__(self, batch: Batch) -> jnp.ndarray:
    return self.label_offset + self.candidate_vectors(batch)[:, 0]

  def next_item_targets(self, batch: Batch, rng, mask_prob: float = 0.0):
    """The row's clicked item, predicted from nothing: (ones [batch, 1, 1], item [batch, 1], ones [batch, 1])."""
    del rng, mask_prob
    item = batch.item_id
    return self.query_vectors(batch)[:, None], item[:, None], jnp.ones(item.shape + (1,), jnp.float32)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
          rngs: nnx.Rngs) -> Popularity:
  del opts, own, parts
  return Popularity(inputs.vocab_sizes, label_offset=inputs.label_offset, rngs=rngs)
