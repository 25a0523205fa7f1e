"""How the text tower's BERT is trained: `model.text.mode`, a registry key.

- `full`: every BERT weight trains (random-init or pretrained).
- `frozen`: BERT does not train and does not run during training: each distinct item text is encoded once, before
  training, into a cached table of pooled vectors (`rec_jax.text_cache`), and the tower is a trainable projection
  of that table (`CachedTextTower`). The cheapest mode; the cache is reused by every run of the same encoder + texts.
- `top_layers`: the top `model.text.trainable_layers` transformer blocks train; the embeddings and the blocks below
  are frozen, so backpropagation stops at the lowest trainable block.
- `lora`: every BERT weight is frozen; rank-`model.text.lora.rank` adapters (`LoRALinear`) are added to each
  block's attention query and value projections, and with `model.text.lora.ffn` to both FFN projections too.

In every mode the pooled vector's projection to `model.embed_dim` trains. `model.text.dtype` (float32 or bfloat16)
sets the encoder's compute dtype; parameters stay float32.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
from flax import nnx

from rec_jax import pretrained
from rec_jax.models.frozen import freeze
from rec_jax.models.lora import LoRALinear
from rec_jax.models.text_tower import BertConfig, BertEncoder, CachedTextTower, ItemTextTower
from rec_jax.registry import Registry

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class TextMode:
  """cached: the model reads precomputed pooled vectors (batch["text_embedding"]) instead of running BERT.
  adapt: freezes and/or wraps a freshly built encoder's weights in place (encoder, model.text config, rngs)."""
  cached: bool
  adapt: Callable[[BertEncoder, object, nnx.Rngs], None]


TEXT_MODES: Registry[TextMode] = Registry("model.text.mode")


def _full(encoder, text_cfg, rngs):
  del encoder, text_cfg, rngs


def _frozen(encoder, text_cfg, rngs):
  del text_cfg, rngs
  freeze(encoder)


def _top_layers(encoder, text_cfg, rngs):
  del rngs
  layers = encoder.encoder.layer
  n = text_cfg.trainable_layers
  if not 0 <= n <= len(layers):
    raise ValueError(f"model.text.trainable_layers={n}: the encoder has {len(layers)} layers; use 0..{len(layers)} "
                     f"(mode 'full' trains everything, 'frozen' caches a fully frozen encoder)")
  freeze(encoder.embeddings)
  for block in list(layers)[:len(layers) - n]:
    freeze(block)


def _lora(encoder, text_cfg, rngs):
  lora = text_cfg.lora
  freeze(encoder)
  for block in encoder.encoder.layer:
    attention = block.attention.self
    attention.query = LoRALinear(attention.query, lora.rank, lora.alpha, rngs=rngs)
    attention.value = LoRALinear(attention.value, lora.rank, lora.alpha, rngs=rngs)
    if lora.ffn:
      block.intermediate.dense = LoRALinear(block.intermediate.dense, lora.rank, lora.alpha, rngs=rngs)
      block.output.dense = LoRALinear(block.output.dense, lora.rank, lora.alpha, rngs=rngs)


TEXT_MODES.register("full")(TextMode(cached=False, adapt=_full))
TEXT_MODES.register("frozen")(TextMode(cached=True, adapt=_frozen))
TEXT_MODES.register("top_layers")(TextMode(cached=False, adapt=_top_layers))
TEXT_MODES.register("lora")(TextMode(cached=False, adapt=_lora))


def compute_dtype(text_cfg):
  name = text_cfg.get("dtype", "float32")
  if name not in COMPUTE_DTYPES:
    raise ValueError(f"model.text.dtype={name!r}: valid are {', '.join(COMPUTE_DTYPES)}")
  return COMPUTE_DTYPES[name]


def bert_config(text_cfg, feature_cfg, vocab_size: int) -> BertConfig:
  """The encoder's architecture: the checkpoint's when `model.text.pretrained` is set (then `model.text.bert` is
  ignored), else `model.text.bert`. Checks the checkpoint's tokenizer and vocabulary against the features'."""
  source = text_cfg.pretrained
  if not source:
    return BertConfig(vocab_size=vocab_size, max_position=feature_cfg.text_max_length, **text_cfg.bert.to_dict())
  pretrained.check_tokenizer_matches(source, feature_cfg.tokenizer)
  bert = pretrained.read_bert_config(source)
  if bert.vocab_size != vocab_size:
    raise ValueError(f"model.text.pretrained {source!r} has a vocabulary of {bert.vocab_size} tokens but "
                     f"features.tokenizer {feature_cfg.tokenizer!r} produces {vocab_size}")
  return dataclasses.replace(bert, max_position=feature_cfg.text_max_length)


def build_encoder(text_cfg, feature_cfg, vocab_size: int, rngs: nnx.Rngs) -> BertEncoder:
  """The text encoder adapted to `model.text.mode`: random init or the pretrained checkpoint's weights."""
  mode = TEXT_MODES.get(text_cfg.mode)
  dtype = compute_dtype(text_cfg)
  bert = bert_config(text_cfg, feature_cfg, vocab_size)
  if text_cfg.pretrained:
    encoder, _ = pretrained.load_pretrained_encoder(text_cfg.pretrained, max_position=bert.max_position, dtype=dtype)
  else:
    encoder = BertEncoder(bert, dtype=dtype, rngs=rngs)
  mode.adapt(encoder, text_cfg, rngs)
  return encoder


def build_text_tower(text_cfg, feature_cfg, vocab_size: int, out_dim: int, *, rngs: nnx.Rngs):
  """The item text tower for `model.text`: an `ItemTextTower` over the adapted encoder, or for cached modes a
  `CachedTextTower` that only projects the precomputed pooled vectors."""
  if TEXT_MODES.get(text_cfg.mode).cached:
    bert = bert_config(text_cfg, feature_cfg, vocab_size)
    compute_dtype(text_cfg)
    return CachedTextTower(bert, out_dim, rngs=rngs)
  encoder = build_encoder(text_cfg, feature_cfg, vocab_size, rngs)
  return ItemTextTower(encoder.config, out_dim, text_cfg.pooling, encoder=encoder, rngs=rngs)
