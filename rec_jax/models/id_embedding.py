"""Id embedding tables whose lookups can be L2-regularised in the loss (`train.embedding_l2`).

The penalty is the one of RecBole's `EmbLoss` and of SGD matrix factorisation (Funk, Koren; Surprise's SVD): the
squared norm of the rows a batch looks up, averaged over the batch, so a row is pulled towards zero in proportion to
how often it is used, and rows the batch does not touch are left alone (a decay of the whole table, `embedding_decay`,
shrinks rare rows on every step, whether they appear or not).

`IdEmbed` records that squared norm only in the training view (models are built in evaluation mode; the train step
runs `model.train()`, see train_step.py), as an `nnx.Intermediate` that `with_embedding_penalty` captures.

Sparse updates (`train.sparse_embeddings`, rec_jax/sparse_step.py) look tables up in two other modes, set for the
duration of a trace by a context manager rather than stored on the module:
- `recording_lookups()`: every lookup's ids are recorded per table (the train step's first pass, which only finds
  the rows a batch touches; XLA drops the rest of that pass);
- `compact_lookups(rows)`: a table's `embedding` holds only the rows `rows[table]` (sorted ids, padded with the
  table size) and an id is looked up at its position there, so the gradient is one row per touched id.
A table read whole (`full_table()`, e.g. a full softmax over items) cannot be compact and says so.

Row-sharded tables (rec_jax/parallel.py) split their rows evenly over the mesh's model axis, so a table built under
`padded_tables(multiple, min_rows)` with at least `min_rows` rows gets zero rows appended up to a multiple of
`multiple` (`parallel.table_row_multiple`). Its real rows are drawn exactly as unpadded (the same initial values),
no id looks a padding row up, `full_table()` and `attend` leave them out, so a padded run computes what an unpadded
one does on any mesh; the padding only makes the table divisible.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Dict, Iterator, List, Tuple

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.errors import UserError

# The lookup mode of the trace being built: None (plain), a _Recording or a _Compact.
_MODE: contextvars.ContextVar = contextvars.ContextVar("id_embed_lookup_mode", default=None)
# (multiple, min_rows) of the tables built now (`padded_tables`), or None.
_PADDING: contextvars.ContextVar = contextvars.ContextVar("id_table_padding", default=None)


@contextlib.contextmanager
def padded_tables(multiple: int, min_rows: int) -> Iterator[None]:
  """Within: IdEmbed tables of at least `min_rows` rows are padded to a multiple of `multiple` (module docstring)."""
  if int(multiple) < 1:
    raise UserError(f"parallel.table_row_multiple={multiple!r} must be an integer >= 1")
  token = _PADDING.set((int(multiple), int(min_rows)))
  try:
    yield
  finally:
    _PADDING.reset(token)


class _Recording:
  def __init__(self):
    self.ids: Dict[int, List[jax.Array]] = {}   # id(table) -> the id arrays it was looked up with


class _Compact:
  def __init__(self, rows: Dict[int, jax.Array]):
    self.rows = rows   # id(table) -> its compact rows' ids, ascending


@contextlib.contextmanager
def recording_lookups() -> Iterator[Dict[int, List[jax.Array]]]:
  """Within: every IdEmbed lookup appends its ids to the yielded {id(table): [ids, ...]}."""
  recording = _Recording()
  token = _MODE.set(recording)
  try:
    yield recording.ids
  finally:
    _MODE.reset(token)


@contextlib.contextmanager
def compact_lookups(rows: Dict[int, jax.Array]) -> Iterator[None]:
  """Within: the tables keyed by id(table) in `rows` hold only those rows (module docstring)."""
  token = _MODE.set(_Compact(rows))
  try:
    yield
  finally:
    _MODE.reset(token)


class EmbeddingPenalty(nnx.Intermediate):
  """The squared norm of one lookup's rows, summed, per batch row (a scalar)."""


class IdEmbed(nnx.Embed):
  """nnx.Embed (ids [batch, ...] -> [batch, ..., features]) that, in training, records the lookup's
  sum of squares / batch."""

  def __init__(self, num_embeddings: int, features: int, **kwargs):
    super().__init__(num_embeddings, features, **kwargs)
    self.deterministic = True   # records nothing until model.train() (the train step's view)
    self.real_rows = num_embeddings   # the ids' rows; more when padded
    padding = _PADDING.get()
    if padding is not None and num_embeddings >= padding[1] and num_embeddings % padding[0]:
      table = self.embedding[...]
      extra = padding[0] - num_embeddings % padding[0]
      self.embedding = nnx.Param(jnp.concatenate([table, jnp.zeros((extra, features), table.dtype)]))
      self.num_embeddings = num_embeddings + extra

  def __call__(self, inputs: jax.Array) -> jax.Array:
    mode = _MODE.get()
    if isinstance(mode, _Recording):
      mode.ids.setdefault(id(self), []).append(inputs)
    rows = mode.rows.get(id(self)) if isinstance(mode, _Compact) else None
    if rows is None:
      out = super().__call__(inputs)
    else:   # `embedding` holds the rows `rows` (ascending): an id's row is at its position there.
      (table,) = self.promote_dtype((self.embedding[...],), dtype=self.dtype, inexact=False)
      out = jnp.take(table, jnp.searchsorted(rows, inputs.astype(rows.dtype)), axis=0)
    if not self.deterministic and not isinstance(mode, _Recording):
      batch = max(int(inputs.shape[0]), 1) if inputs.ndim else 1
      self.sow(EmbeddingPenalty, "squared_norm", jnp.sum(jnp.square(out.astype(jnp.float32))) / batch)
    return out

  def full_table(self) -> jax.Array:
    """The whole table [num_embeddings, features] (a full softmax, scoring every item); not in a sparse step."""
    mode = _MODE.get()
    if isinstance(mode, _Compact) and id(self) in mode.rows:
      raise UserError("train.sparse_embeddings: this model reads a whole id table in training (e.g. a full softmax "
                      f"over its {self.num_embeddings} rows), so the table cannot be updated row by row; set "
                      "train.sparse_embeddings='' for it")
    table = self.embedding[...]
    return table if self.real_rows == self.num_embeddings else table[:self.real_rows]

  def attend(self, query: jax.Array, out_sharding=None) -> jax.Array:
    """Scores of `query` against every real row (nnx.Embed.attend without the padding rows)."""
    query, table = self.promote_dtype((query, self.full_table()), dtype=self.dtype)
    return jnp.dot(query, table.T, out_sharding=out_sharding)


def with_embedding_penalty(fn: Callable[..., Any]) -> Callable[..., Tuple[Any, jax.Array]]:
  """fn(model, *args) -> (fn's result, the sum of the squared norms the model's IdEmbed tables recorded in it)."""
  captured = nnx.capture(fn, EmbeddingPenalty)

  def wrapped(model: nnx.Module, *args):
    result, recorded = captured(model, *args)
    leaves = jax.tree_util.tree_leaves(recorded)
    return result, sum((jnp.sum(jnp.asarray(v)) for v in leaves), jnp.zeros((), jnp.float32))

  return wrapped
