"""Batch inference of sentence embeddings with a `BertEncoder`: length-bucketed, jitted, order-preserving.

Padding every text to `max_length` wastes most of the work on a catalogue whose texts are mostly short, since the
encoder's cost grows with the padded length (and attention with its square). `encode_texts` therefore sorts texts by
real token count and gives each batch only the padding its longest text needs, rounded up to `bucket_multiple` so
that only a handful of distinct shapes (at most max_length / bucket_multiple) is ever compiled. Padding is masked out
of attention and of the mean pool, so the result does not depend on how much of it a text got.
"""

from __future__ import annotations

from typing import Protocol, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.text.bert import POOLINGS, BertEncoder


class TextTokenizer(Protocol):
  """What `encode_texts` needs of a tokenizer, e.g. `rec_jax.text.tokenizer.WordPieceTokenizer`."""

  def encode(self, texts: Sequence[str], max_length: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids, attention mask, token types, each [n, max_length] int32, truncated and padded to max_length."""


@nnx.jit(static_argnames=("pooling", "normalize"))
def _embed(encoder: BertEncoder, ids: jax.Array, mask: jax.Array, types: jax.Array, pooling: str,
           normalize: bool) -> jax.Array:
  """Encoder forward + mask-aware pooling (+ L2 normalisation) for one [batch, seq] block -> [batch, hidden]."""
  pooled = POOLINGS.get(pooling)(encoder(ids, mask, types), mask).astype(jnp.float32)
  if normalize:
    # The floor keeps an all-padding row (zero vector) at zero instead of NaN; same rule as sentence-transformers.
    pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
  return pooled


def bucket_length(real_length: int, bucket_multiple: int, max_length: int) -> int:
  """Padded length for a batch whose longest text has `real_length` tokens: rounded up, capped at max_length."""
  rounded = -(-max(real_length, 1) // bucket_multiple) * bucket_multiple
  return min(rounded, max_length)


def encode_texts(encoder: BertEncoder, tokenizer: TextTokenizer, texts: Sequence[str], *, batch_size: int = 64,
                 max_length: int = 256, bucket_multiple: int = 16, normalize: bool = True) -> np.ndarray:
  """Mean-pooled (by default L2-normalised) embeddings [n, hidden] float32 of `texts`, in their original order.

  Texts are tokenised once at `max_length` (longer ones truncated), then encoded by `encode_tokens`.
  """
  if len(texts) == 0:
    return np.zeros((0, encoder.config.hidden_size), np.float32)
  ids, mask, types = tokenizer.encode(list(texts), max_length)
  return encode_tokens(encoder, ids, mask, types, batch_size=batch_size, bucket_multiple=bucket_multiple,
                       normalize=normalize)


def _dispatch_bucketed(fn, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, batch_size: int,
                       bucket_multiple: int):
  """Sorts rows by real length and calls fn(ids, mask, types) on `batch_size` rows at a time at the batch's bucketed
  length; returns [(row indices, device result)], all dispatched before any is read back so host and device overlap.
  The last, smaller batch is padded with empty rows, so at most ceil(max_length / bucket_multiple) shapes compile."""
  if batch_size < 1 or bucket_multiple < 1:
    raise UserError(f"batch_size {batch_size} and bucket_multiple {bucket_multiple} must be positive")
  ids, mask, types = (np.asarray(a, np.int32) for a in (ids, mask, types))
  n, max_length = ids.shape
  lengths = mask.sum(axis=1)
  order = np.argsort(lengths, kind="stable")
  rows = min(batch_size, n)  # Never pad a small input up to a large batch.
  pending = []
  for start in range(0, n, rows):
    idx = order[start:start + rows]
    seq = bucket_length(int(lengths[idx].max()), bucket_multiple, max_length)
    block = [np.zeros((rows, seq), np.int32) for _ in range(3)]
    for dst, src in zip(block, (ids, mask, types)):
      dst[:len(idx)] = src[idx, :seq]
    pending.append((idx, fn(*block)))
  return pending


def encode_tokens(encoder: BertEncoder, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, *,
                  batch_size: int = 64, bucket_multiple: int = 16, pooling: str = "mean",
                  normalize: bool = True) -> np.ndarray:
  """Pooled embeddings [n, hidden] float32 of already tokenised texts (ids, mask, types [n, max_length]), in order,
  encoded length-bucketed (see `_dispatch_bucketed`)."""
  POOLINGS.get(pooling)
  out = np.zeros((len(ids), encoder.config.hidden_size), np.float32)
  embed = lambda *block: _embed(encoder, *block, pooling=pooling, normalize=normalize)  # noqa: E731
  for idx, result in _dispatch_bucketed(embed, ids, mask, types, batch_size, bucket_multiple) if len(ids) else ():
    out[idx] = np.asarray(result)[:len(idx)]
  return out


@nnx.jit(static_argnames=("num_layers",))
def _prefix(encoder: BertEncoder, ids: jax.Array, mask: jax.Array, types: jax.Array, num_layers: int) -> jax.Array:
  """Output of the embeddings and the first `num_layers` blocks [batch, seq, hidden], zero at padding."""
  hidden = encoder(ids, mask, types, num_layers=num_layers).astype(jnp.float32)
  return hidden * mask[..., None].astype(jnp.float32)


def encode_hidden(encoder: BertEncoder, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, *, num_layers: int,
                  batch_size: int = 64, bucket_multiple: int = 16) -> np.ndarray:
  """Hidden states after the first `num_layers` blocks [n, max_length, hidden] float32 of tokenised texts, in
  order, zero at padding; encoded length-bucketed (see `_dispatch_bucketed`)."""
  n, max_length = np.shape(ids)
  out = np.zeros((n, max_length, encoder.config.hidden_size), np.float32)
  prefix = lambda *block: _prefix(encoder, *block, num_layers=num_layers)  # noqa: E731
  for idx, result in _dispatch_bucketed(prefix, ids, mask, types, batch_size, bucket_multiple) if n else ():
    result = np.asarray(result)
    out[idx, :result.shape[1]] = result[:len(idx)]
  return out
