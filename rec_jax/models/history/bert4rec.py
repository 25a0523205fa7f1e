"""BERT4Rec (Sun et al., CIKM 2019): bidirectional self-attention over the history, trained as a cloze task.

Layers follow BERT (post-LN): embeddings = LayerNorm(item + position); each block is LayerNorm(x + Attn(x)) then
LayerNorm(h + FFN(h)) with a 4*dim GELU FFN and an attention output projection. Attention sees real positions only.
To predict the next item the [mask] vector is appended right after the last real item and its output is the user.
Dropout (`dropout`, BERT4Rec's 0.1 in the paper, in training only) as BERT's: on the embeddings, the attention weights
and each sub-layer's output before its residual. Packed training rows (tasks/packed_sequences.py) give each item
its in-sequence `position`, and attention stays within a `segment`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.errors import UserError
from rec_jax.models.attention import (MultiHeadAttention, check_length, check_sequence_options, sequence_attention,
                                      take_position)
from rec_jax.models.dropout import apply_dropout, dropout
from rec_jax.models.mlp import MLP

# BERT's initializer_range, used for the embeddings this module owns (positions, [mask]).
_INIT = nnx.initializers.normal(stddev=0.02)


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  max_length: int = 50   # positions, >= history length + 1 (the run's default: features.history_length + 1)
  num_layers: int = 2    # blocks
  num_heads: int = 2
  dropout: float = 0.0


class BertBlock(nnx.Module):
  """x [batch, length, dim] -> y = LN(h + FFN(h)), h = LN(x + Attn(x, x)); FFN = Linear(4*dim)-GELU-Linear(dim)."""

  def __init__(self, dim: int, num_heads: int, *, rngs: nnx.Rngs, dropout_rate: float = 0.0):
    self.attention = MultiHeadAttention(dim, num_heads, output_projection=True, rngs=rngs,
                                        dropout_rate=dropout_rate)
    self.attention_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.ffn = MLP(dim, (4 * dim, dim), activation=nnx.gelu, activate_last=False, rngs=rngs,
                   dropout_rate=dropout_rate)
    self.ffn_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.attention_dropout, self.ffn_dropout = dropout(dropout_rate), dropout(dropout_rate)

  def __call__(self, x: jax.Array, allowed: jax.Array) -> jax.Array:
    """x [batch, length, dim]; allowed [batch, length, length] bool (query i may see key j) -> [batch, length, dim]."""
    h = self.attention_norm(x + apply_dropout(self.attention_dropout, self.attention(x, x, allowed)))
    return self.ffn_norm(h + apply_dropout(self.ffn_dropout, self.ffn(h)))


class BERT4Rec(nnx.Module):
  """The bidirectional encoder with a learned [mask] vector; `states` gives every position's state."""

  objective = "masked"  # states at positions replaced by `mask_items` are trained to predict the hidden items.
  reads_target = False

  def __init__(self, dim: int, opts: Options = Options(), *, rngs: nnx.Rngs):
    self.max_length, num_layers, num_heads = check_sequence_options(dim, opts)
    self.mask_embedding = nnx.Param(_INIT(rngs.params(), (dim,)))
    self.positions = nnx.Embed(self.max_length, dim, embedding_init=_INIT, rngs=rngs)
    self.embedding_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.blocks = nnx.List([BertBlock(dim, num_heads, rngs=rngs, dropout_rate=opts.dropout)
                            for _ in range(num_layers)])
    self.dropout = dropout(opts.dropout)

  def mask_items(self, items: jax.Array, masked: jax.Array) -> jax.Array:
    """items [batch, length, dim] with the [mask] vector where masked [batch, length] bool is True."""
    return jnp.where(masked[..., None], self.mask_embedding[...].astype(items.dtype), items)

  def states(self, items: jax.Array, mask: jax.Array, segment=None, position=None) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool -> [batch, length, dim]; zero at padding positions.

    Every real position attends to every real position (before and after it; of its own `segment` [batch, length]
    when given); padding is never attended to. `position` [batch, length]: each item's position embedding
    (default: its index).
    """
    length = items.shape[1]
    check_length(length, self.max_length)
    real = mask.astype(bool)
    allowed = sequence_attention(real, segment, causal=False)
    embedded = self.positions(jnp.arange(length))[None] if position is None else self.positions(position)
    x = apply_dropout(self.dropout, self.embedding_norm(items + embedded))
    for block in self.blocks:
      x = block(x, allowed)
    return x * real[..., None].astype(x.dtype)

  def __call__(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array] = None) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool (length < max_length); target unused -> [batch, dim]:
    the output at position n (= number of real items) after the [mask] vector is placed there."""
    del target
    batch, length, dim = items.shape
    if length >= self.max_length:
      raise UserError(f"bert4rec appends a [mask] position, so history option 'max_length' ({self.max_length}) "
                      f"must exceed the history length ({length})")
    real = mask.astype(bool)
    count = jnp.sum(real.astype(jnp.int32), axis=1)
    at_count = jnp.arange(length + 1)[None] == count[:, None]
    extended = jnp.concatenate([items, jnp.zeros((batch, 1, dim), items.dtype)], axis=1)
    extended_mask = jnp.concatenate([real, jnp.zeros((batch, 1), bool)], axis=1) | at_count
    return take_position(self.states(self.mask_items(extended, at_count), extended_mask), count)


Encoder = BERT4Rec
