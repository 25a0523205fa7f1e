"""Sequential recommenders (SASRec, BERT4Rec, ...): an item-id table and a history encoder (`model.history`) that
turns a user's click sequence into the vector that scores the next item.

`model.name=sequential`. Training (task `next_item`) follows the encoder's paper, on the sequence of a click row's
history followed by the clicked item:
- `causal` (sasrec): every position predicts the item after it (Kang & McAuley 2018);
- `masked` (bert4rec): the cloze task, each item masked with probability `task_options.mask_prob`, and the last
  item (the clicked one) always, which is also how it predicts at test time (Sun et al. 2019);
- no objective of its own (mean): the history predicts the clicked item.
Query = the encoder's output for the history (SASRec: its last state; BERT4Rec: the state at an appended [mask]);
candidates = item-id vectors (new items share the OOV vector); score = their dot product.
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import OOV, PAD, Batch, PackedSequences
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.models.zoo.mf import id_init
from rec_jax.options import NoOptions as Options


class SequentialRecommender(nnx.Module):
  """query_vectors(batch), candidate_vectors(batch) -> [batch, dim]; __call__ -> their dot product [batch]."""

  def __init__(self, opts: ModelOptions, vocab_sizes: Dict[str, int], parts: Components, *,
               label_offset: float = 0.0, rngs: nnx.Rngs):
    if parts.history is None or parts.history_class.reads_target:
      raise ValueError(f"model.name=sequential needs a history encoder that reads the sequence alone "
                       f"(model.history: mean, sasrec, bert4rec), not {opts.history!r}")
    dim = opts.embed_dim
    self.items = IdEmbed(vocab_sizes["item_id"], dim, embedding_init=id_init(opts), rngs=rngs)
    self.encoder = nnx.data(parts.history(dim, rngs))
    self.num_items = vocab_sizes["item_id"]
    self.label_offset = label_offset

  @property
  def sequence_objective(self):
    """The encoder's own training objective ("causal", "masked"), or None (the history predicts the row's item):
    with one, next_item trains on whole packed sequences (tasks/packed_sequences.py)."""
    return self.encoder.objective

  def item_table(self) -> jnp.ndarray:
    return self.items.embedding[...]

  def query_vectors(self, batch: Batch) -> jnp.ndarray:
    hist = batch.history
    return self.encoder(self.items(hist), hist != PAD)

  def candidate_vectors(self, batch: Batch) -> jnp.ndarray:
    return self.items(batch.item_id)

  def __call__(self, batch: Batch) -> jnp.ndarray:
    return self.label_offset + jnp.sum(self.query_vectors(batch) * self.candidate_vectors(batch), axis=-1)

  def next_item_targets(self, batch: Batch, rng, mask_prob: float):
    """(states [batch, positions, dim], target ids [batch, positions], weights [batch, positions]) of the
    encoder's training objective on history + clicked item; `mask_prob`: the cloze objective's masking rate."""
    hist, item = batch.history, batch.item_id
    objective = self.encoder.objective
    if objective is None:
      return self.query_vectors(batch)[:, None], item[:, None], jnp.ones(item.shape + (1,), jnp.float32)
    length = hist.shape[1]
    n = jnp.sum(hist != PAD, axis=1)
    # Histories are left-aligned, so the clicked item goes right after the last real one.
    seq = jnp.concatenate([hist, jnp.zeros_like(hist[:, :1])], axis=1)
    position = jnp.arange(length + 1)[None]
    seq = jnp.where(position == n[:, None], item[:, None], seq)
    real = seq != PAD
    if objective == "causal":
      states = self.encoder.states(self.items(seq), real)
      targets = jnp.concatenate([seq[:, 1:], jnp.zeros_like(seq[:, :1])], axis=1)
      weights = (position < n[:, None]) & (targets > OOV)
    elif objective == "masked":
      masked = real & ((jax.random.uniform(rng, seq.shape) < mask_prob) | (position == n[:, None]))
      states = self.encoder.states(self.encoder.mask_items(self.items(seq), masked), real)
      targets, weights = seq, masked & (seq > OOV)
    else:
      raise ValueError(f"history encoder objective {objective!r} is unknown to the sequential model")
    return states, targets, weights.astype(jnp.float32)

  def packed_targets(self, packed: PackedSequences, rng, mask_prob: float):
    """(states, targets, weights) [rows, length(, dim)] of the encoder's objective on packed sequences: causal,
    each item predicts the next one of its own sequence; masked, the cloze task with each sequence's last item
    always masked (as at test time)."""
    seq, segment = packed.items, packed.segment
    real = segment > 0
    next_segment = jnp.concatenate([segment[:, 1:], jnp.zeros_like(segment[:, :1])], axis=1)
    if self.encoder.objective == "causal":
      states = self.encoder.states(self.items(seq), real, segment, packed.position)
      targets = jnp.concatenate([seq[:, 1:], jnp.zeros_like(seq[:, :1])], axis=1)
      weights = real & (next_segment == segment) & (targets > OOV)
    elif self.encoder.objective == "masked":
      last = real & (next_segment != segment)
      masked = real & ((jax.random.uniform(rng, seq.shape) < mask_prob) | last)
      states = self.encoder.states(self.encoder.mask_items(self.items(seq), masked), real, segment, packed.position)
      targets, weights = seq, masked & (seq > OOV)
    else:
      raise ValueError(f"history encoder objective {self.encoder.objective!r} has no packed-sequence training")
    return states, targets, weights.astype(jnp.float32)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
          rngs: nnx.Rngs) -> SequentialRecommender:
  del own
  return SequentialRecommender(opts, inputs.vocab_sizes, parts, label_offset=inputs.label_offset, rngs=rngs)
