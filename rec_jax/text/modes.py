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

from rec_jax.errors import UserError
from rec_jax.registry import Registry
from rec_jax.text import pretrained
from rec_jax.text.bert import BertConfig, BertEncoder
from rec_jax.text.frozen import freeze
from rec_jax.text.lora import LoRALinear
from rec_jax.text.options import TextOptions

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class TextMode:
  """adapt: freezes and/or wraps a freshly built encoder's weights in place (encoder, TextOptions, rngs).
  frozen_blocks: how many bottom transformer blocks (with the embeddings) are entirely frozen, given the options and
  the encoder's number of blocks; all of them means a fully frozen encoder."""
  adapt: Callable[[BertEncoder, TextOptions, nnx.Rngs], None]
  frozen_blocks: Callable[[TextOptions, int], int]


TEXT_MODES: Registry[TextMode] = Registry("model.text.mode")


def _check_top(n: int, num_layers: int, key: str, hint: str = "") -> int:
  if not 0 <= n <= num_layers:
    raise UserError(f"{key}={n}: the encoder has {num_layers} layers; use 0..{num_layers}{hint}")
  return n


def _lora_layers(options: TextOptions, num_layers: int) -> int:
  n = options.lora.layers
  return num_layers if n == -1 else _check_top(n, num_layers, "model.text.lora.layers", " or -1 for all")


def _full(encoder, options, rngs):
  del encoder, options, rngs


def _frozen(encoder, options, rngs):
  del options, rngs
  freeze(encoder)


def _top_layers(encoder, options, rngs):
  del rngs
  layers = list(encoder.encoder.layer)
  n = _check_top(options.trainable_layers, len(layers), "model.text.trainable_layers")
  freeze(encoder.embeddings)
  for block in layers[:len(layers) - n]:
    freeze(block)


def _lora(encoder, options, rngs):
  lora = options.lora
  layers = list(encoder.encoder.layer)
  freeze(encoder)
  for block in layers[len(layers) - _lora_layers(options, len(layers)):]:
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


def compute_dtype(options: TextOptions):
  if options.dtype not in COMPUTE_DTYPES:
    raise UserError(f"model.text.dtype={options.dtype!r}: valid are {', '.join(COMPUTE_DTYPES)}")
  return COMPUTE_DTYPES[options.dtype]


def build_encoder(options: TextOptions, bert: BertConfig, rngs: nnx.Rngs) -> BertEncoder:
  """The text encoder of architecture `bert` (text/inputs.py) adapted to `model.text.mode`: random init or the
  pretrained checkpoint's weights."""
  mode = TEXT_MODES.get(options.mode)
  dtype = compute_dtype(options)
  if options.pretrained:
    encoder, _ = pretrained.load_pretrained_encoder(options.pretrained, max_position=bert.max_position, dtype=dtype)
  else:
    encoder = BertEncoder(bert, dtype=dtype, rngs=rngs)
  mode.adapt(encoder, options, rngs)
  return encoder
