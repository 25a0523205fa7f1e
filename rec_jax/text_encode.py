"""Batch inference of sentence embeddings with a `BertEncoder`: packed, length-bucketed, jitted, order-preserving.

Padding every text to `max_length` wastes most of the work on a catalogue whose texts are mostly short, since the
encoder's cost grows with the padded length (and attention with its square). `encode_texts` therefore plans rows:

  - packing: texts of at most `pack_length` tokens are packed several to a row of `pack_length` tokens (best-fit
    decreasing). Each text in a row is a segment: its positions restart at 0 and a block-diagonal attention mask
    keeps it from seeing the other texts of its row, so its embedding equals that of the text encoded alone.
  - bucketing: longer texts get one row each, padded to their length rounded up to `bucket_multiple`.

Rows of equal length are batched `rows_per_batch` at a time; with a `token_budget`, short rows get more rows per batch
so that every matmul has thousands of rows. Only a handful of distinct shapes is ever compiled: one per row length
(at most 1 + max_length / bucket_multiple) times at most `_TAIL_STEPS` sizes of a length's last, partial batch.
Padding (segment 0) is masked out of attention and pooling, so results do not depend on how much of it a text got.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Protocol, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.models.text_tower import POOLINGS, BertEncoder

# A length's last batch is padded with empty rows to a multiple of rows_per_batch / _TAIL_STEPS (token-budget mode).
_TAIL_STEPS = 8


class TextTokenizer(Protocol):
  """What `encode_texts` needs of a tokenizer, e.g. `rec_jax.data.text_tokenizer.WordPieceTokenizer`."""

  def encode(self, texts: Sequence[str], max_length: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids, attention mask, token types, each [n, max_length] int32, truncated and padded to max_length."""


@nnx.jit(static_argnames=("normalize", "max_segments"))
def _embed(encoder: BertEncoder, ids: jax.Array, types: jax.Array, positions: jax.Array, segments: jax.Array,
           normalize: bool, max_segments: int) -> jax.Array:
  """Encodes one block of (packed) rows and mean-pools each segment.

  Args:
    ids, types, positions: [rows, seq] int32 token ids, token types and per-segment positions.
    segments: [rows, seq] int32; k >= 1 marks the tokens of the row's k-th text, 0 padding.
    max_segments: number of segment slots per row in the output.

  Returns:
    [rows, max_segments, hidden] float32 mean-pooled (optionally L2-normalised) embeddings; unused slots are zero.
  """
  # Query i attends to key j iff both belong to the same text: block-diagonal, padding keys never seen.
  keep = (segments[:, :, None] == segments[:, None, :]) & (segments[:, None, :] > 0)
  hidden = encoder(ids, keep, types, positions)
  onehot = (segments[..., None] == jnp.arange(1, max_segments + 1)).astype(hidden.dtype)  # [rows, seq, slots]
  sums = jnp.einsum("bsp,bsh->bph", onehot, hidden)
  # Clamp the count so an empty slot (or an all-padding text) yields zeros instead of NaN.
  pooled = (sums / jnp.maximum(onehot.sum(axis=1), 1)[..., None]).astype(jnp.float32)
  if normalize:
    # The floor keeps an all-padding row (zero vector) at zero instead of NaN; same rule as sentence-transformers.
    pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
  return pooled


def bucket_length(real_length: int, bucket_multiple: int, max_length: int) -> int:
  """Padded length for a batch whose longest text has `real_length` tokens: rounded up, capped at max_length."""
  rounded = -(-max(real_length, 1) // bucket_multiple) * bucket_multiple
  return min(rounded, max_length)


def pack_rows(lengths: Sequence[int], row_length: int) -> List[List[int]]:
  """Best-fit decreasing packing of texts into rows of `row_length` tokens.

  Args:
    lengths: [n] token counts, each <= row_length (a text takes at least 2 slots, so a row has <= row_length // 2).

  Returns:
    rows, each a list of indices into `lengths` whose total (slot) length fits in row_length.
  """
  space_of = [max(int(length), 2) for length in lengths]
  if any(space > row_length for space in space_of):
    raise ValueError(f"a text longer than the row length {row_length} cannot be packed")
  rows: List[List[int]] = []
  open_rows: List[List[int]] = [[] for _ in range(row_length + 1)]  # free space -> rows with exactly that much.
  for i in sorted(range(len(space_of)), key=lambda j: -space_of[j]):
    need = space_of[i]
    free = next((s for s in range(need, row_length + 1) if open_rows[s]), None)
    if free is None:
      row, free = len(rows), row_length
      rows.append([])
    else:
      row = open_rows[free].pop()
    rows[row].append(i)
    open_rows[free - need].append(row)
  return rows


def _plan_rows(lengths: np.ndarray, max_length: int, bucket_multiple: int,
               pack_length: Optional[int]) -> Dict[int, List[List[int]]]:
  """Row length -> rows (lists of text indices): short texts packed at pack_length, the rest one per bucketed row.

  Rows of one length are ordered by their longest text, so a batch mixes similar rows.
  """
  plan: Dict[int, List[List[int]]] = {}
  packable = np.zeros(len(lengths), bool)
  if pack_length is not None:
    packable = lengths <= pack_length
    short = np.flatnonzero(packable)
    plan[pack_length] = [[int(short[j]) for j in row] for row in pack_rows(lengths[short], pack_length)]
  for i in np.flatnonzero(~packable)[np.argsort(lengths[~packable], kind="stable")]:
    plan.setdefault(bucket_length(int(lengths[i]), bucket_multiple, max_length), []).append([int(i)])
  return {seq: rows for seq, rows in sorted(plan.items()) if rows}


def _batch_sizes(num_rows: int, rows_per_batch: int, tail_step: int) -> List[int]:
  """Row counts of the batches covering num_rows rows: full batches, then the rest rounded up to tail_step."""
  full, rest = divmod(num_rows, rows_per_batch)
  return [rows_per_batch] * full + ([min(-(-rest // tail_step) * tail_step, rows_per_batch)] if rest else [])


def _fill(rows: List[List[int]], size: int, seq: int, ids: np.ndarray, types: np.ndarray,
          lengths: np.ndarray) -> Tuple[np.ndarray, ...]:
  """Host arrays ids, types, positions, segments [size, seq] int32 for `rows`; rows beyond len(rows) stay empty."""
  block = [np.zeros((size, seq), np.int32) for _ in range(4)]
  b_ids, b_types, b_pos, b_seg = block
  for r, row in enumerate(rows):
    at = 0
    for k, i in enumerate(row, start=1):
      n = int(lengths[i])
      b_ids[r, at:at + n], b_types[r, at:at + n] = ids[i, :n], types[i, :n]
      b_pos[r, at:at + n] = np.arange(n)
      b_seg[r, at:at + n] = k
      at += max(n, 2)
  return tuple(block)


def encode_texts(encoder: BertEncoder, tokenizer: TextTokenizer, texts: Sequence[str], *, batch_size: int = 64,
                 max_length: int = 256, bucket_multiple: int = 16, normalize: bool = True,
                 token_budget: Optional[int] = 8192, pack_length: Optional[int] = 128) -> np.ndarray:
  """Mean-pooled (by default L2-normalised) embeddings [n, hidden] float32 of `texts`, in their original order.

  Texts are tokenised once at `max_length` (longer ones truncated) and planned into rows (see the module docstring).

  Args:
    batch_size: rows per batch; with a token_budget, the minimum rows per batch.
    bucket_multiple: unpacked rows are padded to a multiple of this.
    token_budget: if set, a batch of rows of length seq has max(batch_size, token_budget // seq) rows, and a
      length's last batch is padded only up to a multiple of 1/8 of that; if None, every batch has batch_size rows.
    pack_length: texts of at most this many tokens (capped at max_length) are packed into rows of this length;
      None disables packing.
  """
  if batch_size < 1 or bucket_multiple < 1:
    raise ValueError(f"batch_size {batch_size} and bucket_multiple {bucket_multiple} must be positive")
  if pack_length is not None and pack_length < 2:
    raise ValueError(f"pack_length {pack_length} must be at least 2 (a text takes at least 2 slots)")
  pack_length = None if pack_length is None else min(pack_length, max_length)
  n = len(texts)
  hidden = encoder.config.hidden_size
  if n == 0:
    return np.zeros((0, hidden), np.float32)
  ids, mask, types = (np.asarray(a, np.int32) for a in tokenizer.encode(list(texts), max_length))
  lengths = mask.sum(axis=1)
  out = np.empty((n, hidden), np.float32)
  pending = []  # (rows, device result): dispatch all batches before reading any back, so host and device overlap.
  for seq, rows in _plan_rows(lengths, max_length, bucket_multiple, pack_length).items():
    if token_budget is None:
      per_batch = tail_step = min(batch_size, len(rows))  # Never pad a small input up to a large batch.
    else:
      per_batch = max(batch_size, token_budget // seq)
      tail_step = max(1, per_batch // _TAIL_STEPS)
    # Packed rows (the only ones of length pack_length: bucketed texts are longer) get a fixed slot count.
    slots = seq // 2 if seq == pack_length else 1
    start = 0
    for size in _batch_sizes(len(rows), per_batch, tail_step):
      batch = rows[start:start + size]
      start += size
      pending.append((batch, _embed(encoder, *_fill(batch, size, seq, ids, types, lengths), normalize=normalize,
                                    max_segments=slots)))
  for batch, result in pending:
    result = np.asarray(result)
    for r, row in enumerate(batch):
      out[row] = result[r, :len(row)]
  return out


# Already tokenised rows (for the text cache, rec_jax/text_cache.py): any pooling, or the hidden states of a
# prefix of blocks; length-bucketed, unpacked.


@nnx.jit(static_argnames=("pooling", "normalize"))
def _pool_block(encoder: BertEncoder, ids: jax.Array, mask: jax.Array, types: jax.Array, pooling: str,
                normalize: bool) -> jax.Array:
  """Encoder forward + mask-aware pooling (+ L2 normalisation) of one unpacked [batch, seq] block -> [batch, hidden]."""
  pooled = POOLINGS.get(pooling)(encoder(ids, mask, types), mask).astype(jnp.float32)
  if normalize:
    # The floor keeps an all-padding row (zero vector) at zero instead of NaN; same rule as sentence-transformers.
    pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
  return pooled


def _dispatch_bucketed(fn, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, batch_size: int,
                       bucket_multiple: int):
  """Sorts rows by real length and calls fn(ids, mask, types) on `batch_size` rows at a time at the batch's bucketed
  length; returns [(row indices, device result)], all dispatched before any is read back so host and device overlap.
  The last, smaller batch is padded with empty rows, so at most ceil(max_length / bucket_multiple) shapes compile."""
  if batch_size < 1 or bucket_multiple < 1:
    raise ValueError(f"batch_size {batch_size} and bucket_multiple {bucket_multiple} must be positive")
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
  embed = lambda *block: _pool_block(encoder, *block, pooling=pooling, normalize=normalize)  # noqa: E731
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
