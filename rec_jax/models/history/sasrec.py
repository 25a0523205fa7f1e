"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the history; the last real state is the user.

Blocks follow the authors' TensorFlow code rather than the textbook transformer: queries come from LayerNorm(x) and
keys/values from x itself, the residuals add the normalised inputs, there is no attention output projection, and
padding positions are zeroed after every block. Dropout (`dropout`, the paper's single rate, in training only) as
theirs: on the embedded sequence, the attention weights and both feed-forward layers' outputs.

Position p embeds the p-th oldest item (our histories are left-aligned). The authors left-pad, so for histories
shorter than `max_length` their index counts back from the end instead; for full histories the two agree. Ours keeps
the prefix property: the state at t is what the encoder returns for the history cut after item t.
"""

from __future__ import annotations

import math
import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.models.attention import (MultiHeadAttention, check_length, check_sequence_options, sequence_attention,
                                      take_position)
from rec_jax.models.dropout import apply_dropout, dropout
from rec_jax.models.mlp import MLP


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  max_length: int = 50   # positions (the run's default: features.history_length + 1)
  num_layers: int = 2    # blocks
  num_heads: int = 1     # as in the paper
  dropout: float = 0.0   # the paper: 0.2 on ml-1m, 0.5 on the sparse Amazon sets


class SASRecBlock(nnx.Module):
  """x [batch, length, dim] -> y = F(LN(z)) + LN(z), z = Attn(LN(x), x) + LN(x); F = Linear-ReLU-Linear (dim wide)."""

  def __init__(self, dim: int, num_heads: int, *, rngs: nnx.Rngs, dropout_rate: float = 0.0):
    self.attention_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.attention = MultiHeadAttention(dim, num_heads, output_projection=False, rngs=rngs,
                                        dropout_rate=dropout_rate)
    self.ffn_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.ffn = MLP(dim, (dim, dim), activation=nnx.relu, activate_last=False, rngs=rngs, dropout_rate=dropout_rate)
    self.dropout = dropout(dropout_rate)

  def __call__(self, x: jax.Array, allowed: jax.Array) -> jax.Array:
    """x [batch, length, dim]; allowed [batch, length, length] bool (query i may see key j) -> [batch, length, dim]."""
    queries = self.attention_norm(x)
    z = self.attention(queries, x, allowed) + queries
    z = self.ffn_norm(z)
    return apply_dropout(self.dropout, self.ffn(z)) + z


class SASRec(nnx.Module):
  """The causal encoder; `states` gives every position's state."""

  objective = "causal"  # states[:, t] is trained to predict item t + 1.
  reads_target = False

  def __init__(self, dim: int, opts: Options = Options(), *, rngs: nnx.Rngs):
    self.max_length, num_layers, num_heads = check_sequence_options(dim, opts)
    self.positions = nnx.Embed(self.max_length, dim, rngs=rngs)
    self.blocks = nnx.List([SASRecBlock(dim, num_heads, rngs=rngs, dropout_rate=opts.dropout)
                            for _ in range(num_layers)])
    self.dropout = dropout(opts.dropout)
    self.final_norm = nnx.LayerNorm(dim, rngs=rngs)
    self.scale = math.sqrt(dim)

  def states(self, items: jax.Array, mask: jax.Array, segment=None, position=None) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool -> [batch, length, dim]; zero at padding positions.

    Position i attends to real positions j <= i only (of its own `segment` [batch, length], when given), so
    states[:, t] depends on items[:, :t + 1] alone. `position` [batch, length]: each item's position embedding
    (default: its index).
    """
    length = items.shape[1]
    check_length(length, self.max_length)
    real = mask.astype(bool)
    keep = real[..., None].astype(items.dtype)
    allowed = sequence_attention(real, segment, causal=True)
    embedded = self.positions(jnp.arange(length))[None] if position is None else self.positions(position)
    x = apply_dropout(self.dropout, (items * self.scale + embedded) * keep) * keep
    for block in self.blocks:
      # Zeroing padding after each block is how the authors' code finds padding keys (as zero vectors); here the
      # key mask already hides them, so it only keeps the padding states zero as theirs are.
      x = block(x, allowed) * keep
    return self.final_norm(x) * keep

  def __call__(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array] = None) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool; target unused -> state at the last real position
    [batch, dim] (zeros for an empty history)."""
    del target
    count = jnp.sum(mask.astype(jnp.int32), axis=1)
    return take_position(self.states(items, mask), jnp.maximum(count - 1, 0))


Encoder = SASRec
