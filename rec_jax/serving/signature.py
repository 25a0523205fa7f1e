"""The inputs of an exported scoring function: a flat dict of named arrays with one symbolic batch dimension `b`,
and how it becomes the model's `Batch` (rec_jax/batch.py) inside the exported program.

Names: `user_id`, `item_id` [b] int32 vocabulary ids; `history` [b, history_length] int32 item ids; `cat.<feature>`
[b] int32 ids; `num.<feature>` [b] float32 standardised values; per text group (`text`, `query`) a text form
(`TextForm`): the item text as `text.vectors` [b, out_dim], the text tower's output, which depends on the item
alone and is computed once per item (`text_vectors`, from the form the tower reads, `Signature.item_text`); the
search query in the form its tower reads (text/inputs.py): `query.ids`, `query.mask`, `query.types` [b, length]
int32 (tokens), `query.pooled` [b, width] float32 (a frozen encoder's pooled vectors) or `query.hidden`
[b, length, width] float32 + `query.mask` (the output of frozen bottom blocks). Every row has its own text (the text
block's slot of row r is r).

A side is what a function reads: `score` reads every input, `query` the user's (ids, history, user features, the
search query), `candidate` the item's (id, item features, item text). Inputs a side does not carry are zeros in
the batch the model sees: a model whose user tower read an item input would read zeros, which the export's
equality test (tests/serving/test_export.py) would show.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from rec_jax.batch import Batch, TextBlock, Texts

SIDES = ("score", "query", "candidate")


@dataclasses.dataclass(frozen=True)
class TextForm:
  """One group's form: `kind` tokens | hidden | pooled | vectors, `length` tokens, `width` the encoder's hidden
  size (vectors: the text tower's output size)."""
  kind: str
  length: int
  width: int

  def fields(self) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """{field: (shape after the batch dimension, dtype)}."""
    if self.kind == "tokens":
      return {f: ((self.length,), "int32") for f in ("ids", "mask", "types")}
    if self.kind in ("pooled", "vectors"):
      return {self.kind: ((self.width,), "float32")}
    return {"hidden": ((self.length, self.width), "float32"), "mask": ((self.length,), "int32")}


@dataclasses.dataclass(frozen=True)
class Signature:
  """What an exported run's functions read (from the features section and the model's text-input spec)."""
  categorical: Tuple[str, ...]
  numeric: Tuple[str, ...]
  history_length: int
  user_features: Tuple[str, ...]
  item_features: Tuple[str, ...]
  text: Optional[TextForm] = None        # kind "vectors"
  query: Optional[TextForm] = None
  item_text: Optional[TextForm] = None   # the item text's form the text tower reads (`text_vectors`' input)

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict) -> "Signature":
    d = dict(d)
    for key in ("categorical", "numeric", "user_features", "item_features"):
      d[key] = tuple(d[key])
    for group in ("text", "query", "item_text"):
      d[group] = TextForm(**d[group]) if d.get(group) else None
    return cls(**d)

  def fields(self, side: str = "score") -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """{input name: (shape after the batch dimension, dtype)} of one side, in a fixed order."""
    if side not in SIDES:
      raise ValueError(f"side {side!r}: valid are {SIDES}")
    user, item = side in ("score", "query"), side in ("score", "candidate")
    out: Dict[str, Tuple[Tuple[int, ...], str]] = {}
    if user:
      out["user_id"] = ((), "int32")
      out["history"] = ((self.history_length,), "int32")
    if item:
      out["item_id"] = ((), "int32")
    for name in self.categorical:
      if side == "score" or name in (self.user_features if user else self.item_features):
        out[f"cat.{name}"] = ((), "int32")
    for name in self.numeric:
      if side == "score" or name in (self.user_features if user else self.item_features):
        out[f"num.{name}"] = ((), "float32")
    for group, form, wanted in (("text", self.text, item), ("query", self.query, user)):
      if form is not None and wanted:
        out.update({f"{group}.{f}": spec for f, spec in form.fields().items()})
    return out

  def specs(self, side: str, batch) -> Dict[str, jax.ShapeDtypeStruct]:
    """Abstract inputs of one side with batch dimension `batch` (an int or a symbolic dimension)."""
    return {k: jax.ShapeDtypeStruct((batch,) + shape, np.dtype(dtype))
            for k, (shape, dtype) in self.fields(side).items()}

  def zeros(self, side: str, rows: int) -> Dict[str, np.ndarray]:
    return {k: np.zeros((rows,) + shape, dtype) for k, (shape, dtype) in self.fields(side).items()}

  def to_batch(self, inputs: Dict[str, jax.Array]) -> Batch:
    """The model's batch of these inputs (traced inside the exported function); absent inputs are zeros."""
    n = next(iter(inputs.values())).shape[0]
    full = {k: inputs[k] if k in inputs else jnp.zeros((n,) + shape, dtype)
            for k, (shape, dtype) in self.fields("score").items()}
    blocks = {}
    for group in ("text", "query"):
      if getattr(self, group) is not None:
        texts = Texts(**{f: full[f"{group}.{f}"] for f in getattr(self, group).fields()})
        blocks[group] = TextBlock(texts=texts, slot=jnp.arange(n, dtype=jnp.int32))
    return Batch(label=jnp.zeros((n,), jnp.float32), weight=jnp.ones((n,), jnp.float32), user_id=full["user_id"],
                 item_id=full["item_id"], history=full["history"],
                 categorical={name: full[f"cat.{name}"] for name in self.categorical},
                 numeric={name: full[f"num.{name}"] for name in self.numeric}, **blocks)


def rows_inputs(rows, texts, signature: Signature, side: str = "score", text_vectors=None,
                names=None) -> Dict[str, np.ndarray]:
  """The inputs of one side for a split's `Rows` (rec_jax/batch.py) and its `TextTables` (in the form the model
  reads): what training-time code feeds the model, in the exported functions' form (tests compare the two; the
  export builds the catalogue from it). `text_vectors`: {`text.<field>`: the item text table} -> the text tower's
  vectors (the export's `text_vectors` function), for `text.vectors`. `names`: only these inputs."""
  out = {}
  for name in names if names is not None else signature.fields(side):
    group, _, field = name.partition(".")
    if name in ("user_id", "item_id", "history"):
      out[name] = np.asarray(getattr(rows, name))
    elif group == "cat":
      out[name] = np.asarray(rows.categorical[field])
    elif group == "num":
      out[name] = np.asarray(rows.numeric[field])
    elif name == "text.vectors":
      table = {f"text.{f}": np.asarray(getattr(texts.text, f)) for f in signature.item_text.fields()}
      out[name] = np.asarray(text_vectors(table))[rows.text_index]
    else:
      index = rows.text_index if group == "text" else rows.query_index
      out[name] = np.asarray(getattr(getattr(texts, group), field))[index]
  return out
