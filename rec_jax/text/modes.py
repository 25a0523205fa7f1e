"""How the text tower's BERT is trained: `model.text.mode`, a registry key.

- `full`: every BERT weight trains (random-init or pretrained).
- `frozen`: no BERT weight trains, so BERT does not even run during training: each distinct item text is encoded
  once, before training, into a cached table of pooled vectors (`rec_jax.text.cache`) and the tower is a trainable
  projection of that table (`CachedTextTower`). The cheapest mode.
- `top_layers`: the top `model.text.trainable_layers` transformer blocks train; the embeddings and the blocks below
  are frozen.
- `lora`: every BERT weight is frozen; rank-`model.text.lora.rank` adapters (`LoRALinear`) are added to the
  attention query and value projections (with `model.text.lora.ffn` to both FFN projections too) of the top
  `model.text.lora.layers` blocks (-1: every block).

Frozen bottom blocks compute the same thing at every step, so (unless `model.text.cache_prefix` is False) their
output for every distinct text is computed once before training and cached like the pooled vectors; training then
runs only the blocks above (`ItemTextTower.from_hidden`), which makes top-N and top-N LoRA cost N/L of full
fine-tuning. In every mode the projection of the pooled vector to `model.embed_dim` trains. `model.text.dtype`
(float32 or bfloat16) sets the encoder's compute dtype; parameters stay float32.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
from flax import nnx

from rec_jax.text import pretrained
from rec_jax.text.bert import BertConfig, BertEncoder
from rec_jax.text.frozen import freeze
from rec_jax.text.lora import LoRALinear
from rec_jax.registry import Registry

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class TextMode:
  """adapt: freezes and/or wraps a freshly built encoder's weights in place (encoder, model.text config, rngs).
  frozen_blocks: how many bottom transformer blocks (with the embeddings) are entirely frozen, given the config and
  the encoder's number of blocks; all of them means a fully frozen encoder."""
  adapt: Callable[[BertEncoder, object, nnx.Rngs], None]
  frozen_blocks: Callable[[object, int], int]


TEXT_MODES: Registry[TextMode] = Registry("model.text.mode")


def _check_top(n: int, num_layers: int, key: str, hint: str = "") -> int:
  if not 0 <= n <= num_layers:
    raise ValueError(f"{key}={n}: the encoder has {num_layers} layers; use 0..{num_layers}{hint}")
  return n


def _lora_layers(text_cfg, num_layers: int) -> int:
  n = text_cfg.lora.layers
  return num_layers if n == -1 else _check_top(n, num_layers, "model.text.lora.layers", " or -1 for all")


def _full(encoder, text_cfg, rngs):
  del encoder, text_cfg, rngs


def _frozen(encoder, text_cfg, rngs):
  del text_cfg, rngs
  freeze(encoder)


def _top_layers(encoder, text_cfg, rngs):
  del rngs
  layers = list(encoder.encoder.layer)
  n = _check_top(text_cfg.trainable_layers, len(layers), "model.text.trainable_layers")
  freeze(encoder.embeddings)
  for block in layers[:len(layers) - n]:
    freeze(block)


def _lora(encoder, text_cfg, rngs):
  lora = text_cfg.lora
  layers = list(encoder.encoder.layer)
  freeze(encoder)
  for block in layers[len(layers) - _lora_layers(text_cfg, len(layers)):]:
    attention = block.attention.self
    attention.query = LoRALinear(attention.query, lora.rank, lora.alpha, rngs=rngs)
    attention.value = LoRALinear(attention.value, lora.rank, lora.alpha, rngs=rngs)
    if lora.ffn:
      block.intermediate.dense = LoRALinear(block.intermediate.dense, lora.rank, lora.alpha, rngs=rngs)
      block.output.dense = LoRALinear(block.output.dense, lora.rank, lora.alpha, rngs=rngs)


TEXT_MODES.register("full")(TextMode(_full, lambda cfg, n: 0))
TEXT_MODES.register("frozen")(TextMode(_frozen, lambda cfg, n: n))
TEXT_MODES.register("top_layers")(
    TextMode(_top_layers, lambda cfg, n: n - _check_top(cfg.trainable_layers, n, "model.text.trainable_layers")))
TEXT_MODES.register("lora")(TextMode(_lora, lambda cfg, n: n - _lora_layers(cfg, n)))


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


def cached_blocks(text_cfg, feature_cfg, vocab_size: int) -> int:
  """How many bottom blocks' output the model reads from the text cache instead of computing it: 0 (no cache:
  the tower reads token ids), between 0 and num_layers (the tower reads `text_hidden`, the cached output of the
  frozen blocks) or num_layers (a fully frozen encoder: the tower reads pooled `text_embedding`)."""
  num_layers = bert_config(text_cfg, feature_cfg, vocab_size).num_layers
  frozen = TEXT_MODES.get(text_cfg.mode).frozen_blocks(text_cfg, num_layers)
  return frozen if frozen == num_layers or text_cfg.cache_prefix else 0
