"""The text towers: BERT (text/bert.py) + pooling + a projection to the recommender's embedding size, built for
`model.text` (text/modes.py: how the encoder trains; a fully frozen one becomes a projection of cached vectors)."""

from __future__ import annotations

from typing import Optional

import jax
from flax import nnx

from rec_jax.text.bert import POOLINGS, BertConfig, BertEncoder, Dtype, dense_layer
from rec_jax.text.modes import bert_config, build_encoder, cached_blocks, compute_dtype


class ItemTextTower(nnx.Module):
  """Encodes item text with BERT, pools it and projects to the recommender's embedding size."""

  def __init__(self, bert: BertConfig, out_dim: int, pooling: str = "mean", *,
               dtype: Optional[Dtype] = None, encoder: Optional[BertEncoder] = None, start_layer: int = 0,
               rngs: nnx.Rngs):
    """`encoder`: an already built (e.g. pretrained, see rec_jax.text.pretrained) encoder for `bert`; else random init.
    `start_layer`: in a batch, texts arrive as the cached output of blocks [0, start_layer) (`text_hidden`) instead
    of token ids (see `encode_batch`)."""
    if encoder is not None and encoder.config != bert:
      raise ValueError(f"the given encoder's config {encoder.config} differs from {bert}")
    self.bert = encoder if encoder is not None else BertEncoder(bert, dtype=dtype, rngs=rngs)
    self.pool = POOLINGS.get(pooling)
    # Initialised like BERT's own dense layers, as HF's `_init_weights` does for heads on BERT.
    self.projection = dense_layer(bert.hidden_size, out_dim, bert, dtype, rngs)
    self.out_dim = out_dim
    self.start_layer = start_layer

  def encode_batch(self, batch, group: str = "text") -> jax.Array:
    """The vectors [slots, out_dim] of a batch's block of `group` texts (`text`: items, `query`: search queries;
    see data/pipeline.py)."""
    if self.start_layer:
      return self.from_hidden(batch[f"{group}_hidden"], batch[f"{group}_mask"], self.start_layer)
    return self(batch[f"{group}_ids"], batch[f"{group}_mask"], batch[f"{group}_types"])

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: Optional[jax.Array] = None) -> jax.Array:
    """Maps input_ids, attention_mask (and optional token_type_ids) [batch, seq] to [batch, out_dim]."""
    hidden = self.bert(input_ids, attention_mask, token_type_ids)
    return self.projection(self.pool(hidden, attention_mask))

  def from_hidden(self, hidden: jax.Array, attention_mask: jax.Array, start_layer: int) -> jax.Array:
    """Runs blocks [start_layer, end) on the cached output of the frozen blocks below ([batch, seq, hidden]),
    then pools and projects -> [batch, out_dim]."""
    hidden = self.bert.encoder(hidden.astype(self.bert.embeddings.LayerNorm.dtype or hidden.dtype), attention_mask,
                               start=start_layer)
    return self.projection(self.pool(hidden, attention_mask))


class CachedTextTower(nnx.Module):
  """The text tower of a frozen encoder whose pooled vectors were computed ahead (`rec_jax.text.cache`): only the
  projection to the recommender's embedding size, named and initialised as in `ItemTextTower`."""

  def __init__(self, bert: BertConfig, out_dim: int, *, rngs: nnx.Rngs):
    self.projection = dense_layer(bert.hidden_size, out_dim, bert, None, rngs)
    self.out_dim = out_dim

  def encode_batch(self, batch, group: str = "text") -> jax.Array:
    """The vectors [slots, out_dim] of a batch's block of cached pooled `group` vectors (`<group>_embedding`)."""
    return self(batch[f"{group}_embedding"])

  def __call__(self, pooled: jax.Array) -> jax.Array:
    """Maps pooled text vectors [batch, hidden] to [batch, out_dim]."""
    return self.projection(pooled)


def build_text_tower(text_cfg, feature_cfg, vocab_size: int, out_dim: int, *, rngs: nnx.Rngs):
  """The item text tower for `model.text`: a `CachedTextTower` over pooled vectors of a fully frozen encoder, else an
  `ItemTextTower` over the adapted encoder that starts above its cached frozen blocks (see `cached_blocks`)."""
  bert = bert_config(text_cfg, feature_cfg, vocab_size)
  compute_dtype(text_cfg)
  start = cached_blocks(text_cfg, feature_cfg, vocab_size)
  if start == bert.num_layers:
    return CachedTextTower(bert, out_dim, rngs=rngs)
  encoder = build_encoder(text_cfg, feature_cfg, vocab_size, rngs)
  return ItemTextTower(encoder.config, out_dim, text_cfg.pooling, encoder=encoder, start_layer=start, rngs=rngs)
