"""The text-input spec: what a model's text towers read of each text, declared by `model.text` (and the features'
tokenizer) before the model is built. The data side prepares exactly that form (text/cache.py computes the cached
forms ahead; rec_jax/batch.py's `Texts` carries it) and the towers read exactly that form (text/towers.py).

Frozen bottom blocks give the same output at every step, so (text/modes.py) their output is computed once:
- `tokens`: no cached blocks; the tower reads token ids (`Texts.ids`, `mask`, `types`);
- `hidden`: the bottom `cached_blocks` blocks are frozen; the tower reads their output (`Texts.hidden` + `mask`)
  and runs the blocks above;
- `pooled`: the whole encoder is frozen; the tower reads its pooled vectors (`Texts.pooled`) and only projects them.
"""

from __future__ import annotations

import dataclasses

from rec_jax.errors import UserError
from rec_jax.text import pretrained
from rec_jax.text.bert import BertConfig
from rec_jax.text.modes import TEXT_MODES, compute_dtype
from rec_jax.text.options import TextOptions

KINDS = ("tokens", "hidden", "pooled")


@dataclasses.dataclass(frozen=True)
class TextInput:
  bert: BertConfig     # the encoder's architecture (a pretrained checkpoint's own)
  cached_blocks: int   # bottom blocks whose output comes from the text cache (0: none)

  @property
  def kind(self) -> str:
    if not self.cached_blocks:
      return "tokens"
    return "pooled" if self.cached_blocks == self.bert.num_layers else "hidden"


def bert_config(options: TextOptions, tokenizer: str, max_length: int, vocab_size: int) -> BertConfig:
  """The encoder's architecture: the checkpoint's when `model.text.pretrained` is set (then `model.text.bert` is
  ignored), else `model.text.bert`. Checks the checkpoint's tokenizer and vocabulary against the features'
  (`features.tokenizer`, which produces `vocab_size` token ids); positions up to `max_length` tokens."""
  source = options.pretrained
  if not source:
    return BertConfig(vocab_size=vocab_size, max_position=max_length, **options.bert.to_dict())
  pretrained.check_tokenizer_matches(source, tokenizer)
  bert = pretrained.read_bert_config(source)
  if bert.vocab_size != vocab_size:
    raise UserError(f"model.text.pretrained {source!r} has a vocabulary of {bert.vocab_size} tokens but "
                    f"features.tokenizer {tokenizer!r} produces {vocab_size}")
  return dataclasses.replace(bert, max_position=max_length)


def text_input(options: TextOptions, tokenizer: str, max_length: int, vocab_size: int) -> TextInput:
  """The spec of `model.text` for texts of `features.tokenizer` (`vocab_size` ids) and `features.text_max_length`."""
  bert = bert_config(options, tokenizer, max_length, vocab_size)
  compute_dtype(options)
  frozen = TEXT_MODES.get(options.mode).frozen_blocks(options, bert.num_layers)
  return TextInput(bert, frozen if frozen == bert.num_layers or options.cache_prefix else 0)
