"""Attention pieces shared by the history encoders (din, sasrec, bert4rec): masked softmax, masked multi-head
attention, picking a position's state, and the checks of the sequence encoders' options."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.models.dropout import apply_dropout, dropout

# Masked attention scores: finite, so a row with no allowed position gives uniform weights (zeroed after) not NaN.
_MASKED_SCORE = -1e9


def masked_softmax(scores: jax.Array, allowed: jax.Array, axis: int = -1) -> jax.Array:
  """Softmax of scores over `axis` restricted to `allowed` (bool, broadcastable); all-zero where none is allowed."""
  weights = jax.nn.softmax(jnp.where(allowed, scores, _MASKED_SCORE), axis=axis)
  return weights * allowed.astype(weights.dtype)


def take_position(states: jax.Array, index: jax.Array) -> jax.Array:
  """Row b of states [batch, length, dim] at position index[b] -> [batch, dim]."""
  return jnp.take_along_axis(states, index[:, None, None], axis=1)[:, 0]


def _positive_int(options, key: str) -> int:
  value = getattr(options, key)
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise UserError(f"history option {key!r} must be a positive integer, got {value!r}")
  return value


def check_sequence_options(dim: int, options):
  """A sequence encoder's (max_length, num_layers, num_heads), each a positive integer, num_heads dividing dim."""
  max_length, num_layers, num_heads = (_positive_int(options, k) for k in ("max_length", "num_layers", "num_heads"))
  if dim % num_heads:
    raise UserError(f"history option 'num_heads' ({num_heads}) must divide the embedding dim ({dim})")
  return max_length, num_layers, num_heads


def sequence_attention(real: jax.Array, segment=None, *, causal: bool) -> jax.Array:
  """allowed [batch, length, length] bool: query i may see key j when j is a real position (and j <= i if
  `causal`), within i's own segment when `segment` [batch, length] is given (packed sequences)."""
  length = real.shape[1]
  allowed = jnp.broadcast_to(real[:, None, :], (real.shape[0], length, length))
  if causal:
    allowed = allowed & jnp.tril(jnp.ones((length, length), bool))[None]
  if segment is not None:
    allowed = allowed & (segment[:, :, None] == segment[:, None, :])
  return allowed


def check_length(length: int, max_length: int) -> None:
  if length > max_length:
    raise UserError(f"history of length {length} is longer than history option 'max_length' ({max_length})")


class MultiHeadAttention(nnx.Module):
  """Scaled dot-product attention: per head h, a_ij = softmax_j(<q_i, k_j> / sqrt(head_dim)) over allowed j and
  out_i = concat_h sum_j a_ij v_j, optionally followed by a dense output projection.

  `query`, `key`, `value` are nnx.Linear(dim, dim) with bias; head h owns columns h*head_dim:(h+1)*head_dim.
  A query with no allowed key gets a zero output (not NaN). `dropout`: on the attention weights, in training.
  """

  def __init__(self, dim: int, num_heads: int, *, output_projection: bool, rngs: nnx.Rngs, dropout_rate=0.0):
    self.query = nnx.Linear(dim, dim, rngs=rngs)
    self.key = nnx.Linear(dim, dim, rngs=rngs)
    self.value = nnx.Linear(dim, dim, rngs=rngs)
    self.output = nnx.Linear(dim, dim, rngs=rngs) if output_projection else None
    self.num_heads, self.head_dim = num_heads, dim // num_heads
    self.dropout = dropout(dropout_rate)

  def _heads(self, projection: nnx.Linear, x: jax.Array) -> jax.Array:
    """Projects x [batch, length, dim] to [batch, length, heads, head_dim]."""
    return projection(x).reshape(*x.shape[:2], self.num_heads, self.head_dim)

  def attention(self, queries: jax.Array, keys: jax.Array, allowed: jax.Array) -> jax.Array:
    """queries [batch, lq, dim], keys [batch, lk, dim], allowed [batch, lq, lk] bool -> a [batch, heads, lq, lk]."""
    scores = jnp.einsum("bihd,bjhd->bhij", self._heads(self.query, queries), self._heads(self.key, keys))
    return masked_softmax(scores / math.sqrt(self.head_dim), allowed[:, None])

  def __call__(self, queries: jax.Array, keys: jax.Array, allowed: jax.Array) -> jax.Array:
    """queries [batch, lq, dim] attend to keys (= values) [batch, lk, dim] where allowed -> [batch, lq, dim]."""
    weights = apply_dropout(self.dropout, self.attention(queries, keys, allowed))
    attended = jnp.einsum("bhij,bjhd->bihd", weights, self._heads(self.value, keys))
    out = attended.reshape(queries.shape)
    return out if self.output is None else self.output(out)
