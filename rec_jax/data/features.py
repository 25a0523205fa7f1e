"""Feature processing: turns clean columns into the model's arrays (the batch contract of DESIGN.md §3).

Fitted on the train split only (vocabularies with OOV, numeric statistics), saved as JSON in the workdir and reused
on resume and evaluation. Output per split is a `FeatureArrays`: per-row arrays plus a table of tokenised item texts
that rows index into (so each distinct text is tokenised and stored once).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional

import numpy as np

from rec_jax.text.tokenizer import WordPieceTokenizer
from rec_jax.data.vocab import PAD, HashedVocabulary, Vocabulary, from_json

Columns = Dict[str, np.ndarray]
# Texts stored once per distinct value and indexed by rows: item texts and search queries.
TEXT_GROUPS = ("text", "query")


@dataclasses.dataclass
class FeatureArrays:
  """rows: name -> [n, ...] arrays; texts: per text group (TEXT_GROUPS: item `text`, search `query`), tables
  `<group>_ids|_mask|_types` -> [num_texts, max_len] indexed by rows["<group>_index"]."""
  rows: Dict[str, np.ndarray]
  texts: Dict[str, np.ndarray]
  # Per-split data that is not per row: `seen` (data.item_sets.ItemSets: each user_key's items of the earlier
  # splits) and `negatives` (sampled-ranking candidates), set by data/prepare.py.
  extras: Dict[str, object] = dataclasses.field(default_factory=dict)

  def __len__(self) -> int:
    return len(self.rows["label"])


class FeatureProcessor:
  """Fits vocabularies and statistics on train; transforms any split the same way."""

  def __init__(self, cfg, vocabs: Optional[Dict[str, Vocabulary]] = None,
               numeric_stats: Optional[Dict[str, List[float]]] = None, tokenizer_sha256: str = "",
               label_mean: float = 0.0):
    self.cfg = cfg
    self.label_mean = label_mean   # train mean of the label: the global offset of rating models
    self.vocabs = vocabs or {}
    self.numeric_stats = numeric_stats or {}
    self.tokenizer_sha256 = tokenizer_sha256
    self._tokenizer = None

  # --- fitting -------------------------------------------------------------------------------------------------
  def fit(self, train: Columns) -> "FeatureProcessor":
    cfg = self.cfg
    for name in cfg.categorical:
      self.vocabs[name] = self._vocabulary(name, train[name])
    self.vocabs["user_id"] = self._vocabulary(cfg.user_id, train[cfg.user_id])
    # Items of the behaviour histories share the item vocabulary; only items seen in train get an id.
    self.vocabs["item_id"] = self._vocabulary(cfg.item_id, train[cfg.item_id])
    for name in cfg.numeric:
      x = self._numeric_transform(train[name])
      self.numeric_stats[name] = [float(x.mean()), float(x.std() + 1e-6)]
    if cfg.text or cfg.get("query", ""):
      self.tokenizer_sha256 = self.tokenizer.sha256
    self.label_mean = float(np.mean(train[cfg.label].astype(np.float64)))
    return self

  def _vocabulary(self, column: str, values: np.ndarray):
    """Hashed when `features.hash_buckets` lists the column (no list of its values is kept), else fitted."""
    buckets = self.cfg.get("hash_buckets", {}).get(column)
    return HashedVocabulary(buckets) if buckets else Vocabulary.fit(values, self.cfg.min_count)

  @property
  def tokenizer(self) -> WordPieceTokenizer:
    if self._tokenizer is None:
      self._tokenizer = WordPieceTokenizer(self.cfg.tokenizer)
      if self.tokenizer_sha256 and self._tokenizer.sha256 != self.tokenizer_sha256:
        raise ValueError(f"tokenizer {self.cfg.tokenizer!r} differs from the one this processor was fitted with "
                         f"(sha256 {self._tokenizer.sha256[:12]} != {self.tokenizer_sha256[:12]})")
    return self._tokenizer

  def _numeric_transform(self, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.log1p(np.maximum(x, 0)) if self.cfg.numeric_transform == "log1p" else x

  # --- transforming ------------------------------------------------------------------------------------------
  def transform(self, cols: Columns) -> FeatureArrays:
    cfg = self.cfg
    rows = {f"cat/{name}": self.vocabs[name].lookup(cols[name]) for name in cfg.categorical}
    for name in cfg.numeric:
      mean, std = self.numeric_stats[name]
      rows[f"num/{name}"] = ((self._numeric_transform(cols[name]) - mean) / std).astype(np.float32)
    rows["user_id"] = self.vocabs["user_id"].lookup(cols[cfg.user_id])
    rows["item_id"] = self.vocabs["item_id"].lookup(cols[cfg.item_id])
    rows["history"] = self._histories(cols[cfg.history])
    rows["label"] = cols[cfg.label].astype(np.float32)
    # Evaluation-only columns: the item's warm/cold status, the raw user for per-user metrics, the oracle.
    rows["item_is_cold"] = ~self.vocabs["item_id"].contains(cols[cfg.item_id])
    # The lists that ranking metrics (ndcg@K) rank within: a user's impressions, or a search session's results.
    group = cfg.get("rank_group", "") or cfg.user_id
    if group not in cols:
      raise KeyError(f"features.rank_group={group!r} is not a column of the data (columns: {sorted(cols)})")
    rows["rank_group"] = np.unique(cols[group].astype(str), return_inverse=True)[1].astype(np.int32)
    if cfg.oracle and cfg.oracle in cols:
      rows["oracle"] = cols[cfg.oracle].astype(np.float32)
    texts = {}
    if cfg.text:
      rows["text_index"], texts = self._texts(cols)
    if cfg.get("query", ""):
      rows["query_index"], queries = self._queries(cols[cfg.query])
      texts.update(queries)
    return FeatureArrays(rows, texts)

  def _histories(self, histories: np.ndarray) -> np.ndarray:
    length = self.cfg.history_length
    out = np.full((len(histories), length), PAD, dtype=np.int32)
    vocab = self.vocabs["item_id"]
    for r, seq in enumerate(histories):
      recent = list(seq)[-length:] if length else []   # [-0:] would be the whole list
      if recent:
        # Left-aligned, most recent last; positions after the history are padding.
        out[r, :len(recent)] = vocab.lookup(np.asarray(recent, dtype=object))
    return out

  def _texts(self, cols: Columns):
    first, second = (list(self.cfg.text) + [None])[:2]
    pairs = np.char.add(np.char.add(cols[first].astype(str), "\x1f"),
                        cols[second].astype(str) if second else np.array([""] * len(cols[first])))
    unique, index = np.unique(pairs, return_inverse=True)
    a, _, b = np.char.partition(unique.astype(str), "\x1f").T
    ids, mask, types = self.tokenizer.encode_pairs(a, b, self.cfg.text_max_length)
    return index.astype(np.int32), {"text_ids": ids, "text_mask": mask, "text_types": types}

  def _queries(self, queries: np.ndarray):
    """Each distinct query tokenised once as a single segment of `features.query_max_length` tokens."""
    unique, index = np.unique(queries.astype(str), return_inverse=True)
    ids, mask, types = self.tokenizer.encode(unique, self.cfg.query_max_length)
    return index.astype(np.int32), {"query_ids": ids, "query_mask": mask, "query_types": types}

  # --- persistence ---------------------------------------------------------------------------------------------
  def state(self) -> dict:
    return {"vocabs": {k: v.to_json() for k, v in self.vocabs.items()},
            "numeric_stats": self.numeric_stats, "tokenizer_sha256": self.tokenizer_sha256,
            "label_mean": self.label_mean,
            "features_config": self.cfg.to_dict() if hasattr(self.cfg, "to_dict") else dict(self.cfg)}

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.state(), f)

  @classmethod
  def load(cls, path: str, cfg) -> "FeatureProcessor":
    with open(path) as f:
      state = json.load(f)
    saved = state["features_config"]
    current = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    if json.loads(json.dumps(current)) != saved:
      raise ValueError(f"{path} was fitted with other feature settings than the current config: "
                       f"saved {saved} vs now {current}")
    return cls(cfg, {k: from_json(v) for k, v in state["vocabs"].items()}, state["numeric_stats"],
               state["tokenizer_sha256"], state.get("label_mean", 0.0))

  def vocab_sizes(self) -> Dict[str, int]:
    sizes = {name: len(v) for name, v in self.vocabs.items()}
    if self.cfg.text or self.cfg.get("query", ""):
      sizes["text"] = self.tokenizer.vocab_size
    return sizes
