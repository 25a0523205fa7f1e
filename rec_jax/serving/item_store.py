"""The items a service scores: the exported catalogue plus items added or updated at serve time, each with its
candidate-side inputs (serving/signature.py) and, for models with an item tower, its vector in the item index.

A new item is described by its raw columns alone: the item features (`features.item_features`) and the text
columns (`features.text`). Its id is out of the training vocabulary (OOV, as every cold item in training), its
attributes go through the fitted vocabularies and statistics, its text through the tokenizer, for frozen encoder
blocks the exported encoder (`text_form.text`), and the text tower (`text_vectors`); the item tower then gives its
vector. Nothing is retrained.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any, Dict, List, Optional

import numpy as np

from rec_jax.errors import UserError
from rec_jax.serving.item_index import ItemIndex
from rec_jax.serving.request_features import RequestError, RequestFeatures

log = logging.getLogger("rec_jax.serve")


class ItemStore:
  def __init__(self, bundle, features: RequestFeatures, journal: str = ""):
    """`journal`: a file of the items added or updated at serve time (one JSON line per accepted change), replayed
    here, so they survive a restart; "" keeps them in memory only."""
    self.bundle, self.features = bundle, features
    sig = bundle.signature
    self.signature = sig
    items = bundle.items
    self.ids: List[str] = [str(i) for i in items["ids"]]
    self.rows: Dict[str, int] = {item: r for r, item in enumerate(self.ids)}
    self.inputs: Dict[str, np.ndarray] = {k[len("inputs/"):]: v for k, v in items.items() if k.startswith("inputs/")}
    self.popularity = items["popularity"].astype(np.int64)
    self.added = 0
    self.lock = threading.Lock()
    self.index: Optional[ItemIndex] = None
    if bundle.has("candidate"):
      self.index = ItemIndex(bundle.function("candidate")(self.inputs))
    self.journal = journal
    if journal:
      self._replay(journal)

  def _replay(self, path: str) -> None:
    """Applies the journal's changes in order. A last line without its newline is a change the server was
    appending when it stopped (before applying or answering it): complete, it is applied and its newline added;
    cut short, it is removed from the file with a warning."""
    if not os.path.exists(path):
      return
    with open(path, "rb") as f:
      data = f.read()
    lines = data.split(b"\n")
    if lines[-1].strip():
      try:
        json.loads(lines[-1])
        with open(path, "ab") as f:
          f.write(b"\n")
      except ValueError:
        log.warning("%s line %d is cut short (the server stopped while appending it; the change was never applied "
                    "or answered): removing it", path, len(lines))
        with open(path, "r+b") as f:
          f.truncate(len(data) - len(lines[-1]))
        lines = lines[:-1]
    for number, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        items = json.loads(line)["items"]
        if not isinstance(items, list):
          raise TypeError(f"items is a {type(items).__name__}, not a list")
        self.upsert(items, [f"{path}:{number}.items[{i}]" for i in range(len(items))], journal=False)
      except (ValueError, KeyError, TypeError) as e:   # ValueError: not JSON, not UTF-8
        if isinstance(e, RequestError):
          raise UserError(f"{path} line {number}: {e}; fix or remove the line") from None
        raise UserError(f"{path} line {number} is not an item change ({type(e).__name__}: {e}); fix or remove "
                        "the line") from None

  def __len__(self) -> int:
    return len(self.ids)

  def row(self, item: Any, field: str) -> int:
    if isinstance(item, (dict, list)) or item is None:
      raise RequestError(field, f"expected an item id, got {item!r}")
    r = self.rows.get(str(item))
    if r is None:
      raise RequestError(field, f"unknown item {item!r}: add it with POST /items first", status=404)
    return r

  def take(self, rows: np.ndarray) -> Dict[str, np.ndarray]:
    """Candidate-side inputs of item rows."""
    return {k: v[rows] for k, v in self.inputs.items()}

  def encode(self, items: List[Dict[str, Any]], where: List[str]) -> Dict[str, np.ndarray]:
    """Candidate-side inputs of items given by their raw columns."""
    sig, f = self.signature, self.features
    out: Dict[str, np.ndarray] = {}
    out["item_id"] = f.ids("item_id", [i["item"] for i in items], [f"{w}.item" for w in where])
    for name in sig.item_features:
      values = []
      for item, field in zip(items, where):
        if name not in item:
          raise RequestError(f"{field}.{name}", "missing: an item needs every item feature "
                             f"({', '.join(sig.item_features)})")
        values.append(item[name])
      at = [f"{w}.{name}" for w in where]
      if name in sig.categorical:
        out[f"cat.{name}"] = f.ids(name, values, at)
      else:
        out[f"num.{name}"] = f.numeric(name, values, at)
    if sig.text is not None:   # tokens -> the form the text tower reads -> the tower's vectors
      texts = tokens = f.item_texts(items, where)
      if sig.item_text.kind == "pooled":
        texts = {"text.pooled": self.bundle.function("text_form.text")(tokens)}
      elif sig.item_text.kind == "hidden":
        texts = {"text.hidden": self.bundle.function("text_form.text")(tokens), "text.mask": tokens["text.mask"]}
      out["text.vectors"] = self.bundle.function("text_vectors")(texts)
    return out

  def upsert(self, items: List[Dict[str, Any]], where: List[str], journal: bool = True) -> List[Dict[str, Any]]:
    """Adds new items and replaces the features and text of known ones (all of them or, on a bad item, none);
    returns per item its row and whether it was new. The change is appended to the journal before it is
    applied."""
    if not items:
      return []
    seen = {}
    for item, field in zip(items, where):
      if not isinstance(item, dict):
        raise RequestError(field, "expected an object with the item's id and columns")
      if item.get("item") is None:
        raise RequestError(f"{field}.item", "missing: every item needs its id")
      if isinstance(item["item"], bool) or not isinstance(item["item"], (str, int)) or item["item"] == "":
        raise RequestError(f"{field}.item", f"expected a non-empty item id (a string or an integer), got "
                           f"{item['item']!r}")
      if str(item["item"]) in seen:
        raise RequestError(f"{field}.item", f"item {item['item']!r} is listed twice (also {seen[str(item['item'])]})")
      seen[str(item["item"])] = field
    inputs = self.encode(items, where)
    vectors = self.bundle.function("candidate")(inputs) if self.index is not None else None
    if journal and self.journal:
      with open(self.journal, "a") as f:
        f.write(json.dumps({"items": items}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    with self.lock:
      rows, new = [], []
      for item in items:
        key = str(item["item"])
        existing = self.rows.get(key)
        new.append(existing is None)
        if existing is None:
          existing = len(self.ids)
          self.ids.append(key)
          self.rows[key] = existing
        rows.append(existing)
      rows_arr = np.asarray(rows, np.int64)
      end = len(self.ids)
      for k, v in inputs.items():
        if end > len(self.inputs[k]):
          grown = np.zeros((max(end, 2 * len(self.inputs[k])),) + self.inputs[k].shape[1:], self.inputs[k].dtype)
          grown[:len(self.inputs[k])] = self.inputs[k]
          self.inputs[k] = grown
        self.inputs[k][rows_arr] = v
      if end > len(self.popularity):
        self.popularity = np.concatenate([self.popularity, np.zeros(end - len(self.popularity), np.int64)])
      if self.index is not None:
        self.index.set(rows_arr, vectors)
      self.added += sum(new)
    return [{"item": str(i["item"]), "row": r, "new": n} for i, r, n in zip(items, rows, new)]
