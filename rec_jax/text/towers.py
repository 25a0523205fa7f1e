"""The text towers: BERT (text/bert.py) + pooling + a projection to the recommender's embedding size, built for
`model.text` and its text-input spec (text/inputs.py): a tower reads the form of `Texts` its spec declares."""

from __future__ import annotations

from typing import Optional

import jax
from flax import nnx

from rec_jax.batch import Texts
from rec_jax.errors import UserError
from rec_jax.text.bert import POOLINGS, BertConfig, BertEncoder, Dtype, dense_layer
from rec_jax.text.inputs import TextInput
from rec_jax.text.modes import build_encoder
from rec_jax.text.options import TextOptions


class ItemTextTower(nnx.Module):
  """Encodes item text with BERT, pools it and projects to the recommender's embedding size."""

  def __init__(self, bert: BertConfig, out_dim: int, pooling: str = "mean", *,
               dtype: Optional[Dtype] = None, encoder: Optional[BertEncoder] = None, start_layer: int = 0,
               rngs: nnx.Rngs):
    """`encoder`: an already built (e.g. pretrained, see rec_jax.text.pretrained) encoder for `bert`; else random init.
    `start_layer`: texts arrive as the cached output of blocks [0, start_layer) (`Texts.hidden`) instead of token
    ids (see `encode`)."""
    if encoder is not None and encoder.config != bert:
      raise UserError(f"the given encoder's config {encoder.config} differs from {bert}")
    self.bert = encoder if encoder is not None else BertEncoder(bert, dtype=dtype, rngs=rngs)
    self.pool = POOLINGS.get(pooling)
    # Initialised like BERT's own dense layers, as HF's `_init_weights` does for heads on BERT.
    self.projection = dense_layer(bert.hidden_size, out_dim, bert, dtype, rngs)
    self.out_dim = out_dim
    self.start_layer = start_layer

  def encode(self, texts: Texts) -> jax.Array:
    """The vectors [n, out_dim] of `texts` (a batch's block of item texts or queries, data/pipeline.py), read in
    this tower's form: the cached output of its frozen blocks, or token ids (or this tower's own output, which
    serving computes once per item)."""
    if texts.vectors is not None:
      return texts.vectors
    if self.start_layer:
      _check_form(texts.hidden, "hidden", f"the cached output of its {self.start_layer} frozen blocks")
      return self.from_hidden(texts.hidden, texts.mask, self.start_layer)
    _check_form(texts.ids, "ids", "token ids")
    return self(texts.ids, texts.mask, texts.types)

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

  def encode(self, texts: Texts) -> jax.Array:
    """The vectors [n, out_dim] of `texts` given as cached pooled vectors (`Texts.pooled`), or as this tower's own
    output (`Texts.vectors`, serving)."""
    if texts.vectors is not None:
      return texts.vectors
    _check_form(texts.pooled, "pooled", "the cached pooled vectors of its frozen encoder")
    return self(texts.pooled)

  def __call__(self, pooled: jax.Array) -> jax.Array:
    """Maps pooled text vectors [batch, hidden] to [batch, out_dim]."""
    return self.projection(pooled)


def _check_form(value, field: str, what: str) -> None:
  if value is None:
    raise UserError(f"the text tower reads {what} (Texts.{field}), which the batch does not hold: the data was "
                    "prepared for another model.text (text/inputs.py)")


def build_text_tower(options: TextOptions, spec: TextInput, out_dim: int, *, rngs: nnx.Rngs):
  """The text tower for `model.text` (`options`) and its spec: a `CachedTextTower` over pooled vectors of a fully
  frozen encoder, else an `ItemTextTower` over the adapted encoder that starts above its cached frozen blocks."""
  if spec.kind == "pooled":
    return CachedTextTower(spec.bert, out_dim, rngs=rngs)
  encoder = build_encoder(options, spec.bert, rngs)
  return ItemTextTower(encoder.config, out_dim, options.pooling, encoder=encoder, start_layer=spec.cached_blocks,
                       rngs=rngs)
