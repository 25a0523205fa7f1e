"""The batch contract, owned by neither data nor models: data/ builds these structures, models and tasks read them.

- `Rows`: what a split holds per row (host numpy): the model's inputs, the evaluation's host-only columns (item
  slices, rank groups, the oracle, catalogue and user keys) and indices into the split's text tables.
- `Texts`: one text group's table (item texts, search queries; `TEXT_GROUPS`), in the form the text towers read
  (text/inputs.py's `TextInput.kind`): token ids, the cached output of frozen bottom blocks, or cached pooled vectors.
- `FeatureArrays`: one split: its `Rows`, its `TextTables` and what is per split rather than per row (the users'
  seen items, sampled-ranking negatives, the catalogue's raw columns).
- `Batch`: what one step feeds the model, sharded over the mesh's data axis: the device columns of a block of rows,
  each group's distinct texts once (`TextBlock`) and, for retrieval, a block of extra negative rows.
- `PackedSequences`: what a next-item training step of a sequence encoder feeds it instead: whole user sequences
  packed side by side into fixed-length rows, so no position is computed twice and almost none is padding.
Every structure is a pytree (flax.struct), so `jax.tree.map` takes rows, shards batches and jit traces them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np
from flax import struct

Array = Any   # numpy on the host, jax.Array on the devices

# The reserved ids of every vocabulary (data/vocab.py): padding (of histories) and out-of-vocabulary (an item, user
# or value unseen in training: every cold item).
PAD, OOV = 0, 1

# Text groups: each distinct value stored once per split and indexed by its rows (`Rows.<group>_index`).
TEXT_GROUPS = ("text", "query")
# Row fields that describe the row's item rather than its user or context (with the item's own features).
ITEM_FIELDS = ("item_id", "item_key", "item_is_cold", "text_index")


def _take(tree, index):
  return jax.tree.map(lambda a: a[index], tree)


@struct.dataclass
class Texts:
  """One group's texts (rows of a table or of a batch's block), in one of three forms:
  tokens: `ids`, `mask`, `types` [n, length] int32; hidden: `hidden` [n, length, width] float32 (the output of the
  encoder's frozen bottom blocks, zero at padding) with `mask`; pooled: `pooled` [n, width] float32.
  Or, in serving only, `vectors` [n, out_dim] float32: the text tower's own output, computed once per item
  (rec_jax/serving/), which a tower returns as it is."""
  ids: Optional[Array] = None
  mask: Optional[Array] = None
  types: Optional[Array] = None
  hidden: Optional[Array] = None
  pooled: Optional[Array] = None
  vectors: Optional[Array] = None

  def take(self, index) -> "Texts":
    return _take(self, index)

  def __len__(self) -> int:
    return len(jax.tree.leaves(self)[0])


@struct.dataclass
class TextTables:
  """A split's text tables by group: item texts and search queries (None: the data has none)."""
  text: Optional[Texts] = None
  query: Optional[Texts] = None


@struct.dataclass
class TextBlock:
  """A batch's block of one text group: each distinct text once (`texts` [slots, ...]) and which slot each row's
  text is (`slot` [batch] int32). Items repeat within a batch, so a text is encoded once per batch, not per row."""
  texts: Texts
  slot: Array


@struct.dataclass
class Rows:
  """Per-row columns of a split, [n, ...] each (data/features.py makes them)."""
  label: Array                              # [n] float32: click (0/1) or rating
  user_id: Array                            # [n] int32 vocabulary id (OOV: a user unseen in training)
  item_id: Array                            # [n] int32 vocabulary id (OOV: a cold item)
  history: Array                            # [n, length] int32 item ids, oldest first, PAD after the last
  categorical: Dict[str, Array]             # feature -> [n] int32 vocabulary ids
  numeric: Dict[str, Array]                 # feature -> [n] float32, standardised
  item_is_cold: Array                       # [n] bool (host): the item is out of the training vocabulary
  rank_group: Array                         # [n] int32 (host): the lists ndcg@K and gauc rank within
  text_index: Optional[Array] = None        # [n] int32: the row's item text in the split's `texts.text`
  query_index: Optional[Array] = None       # [n] int32: the row's search query in `texts.query`
  oracle: Optional[Array] = None            # [n] float32 (host): the data's true click probability
  item_key: Optional[Array] = None          # [n] int32 (host): the item's row of the catalogue
  user_key: Optional[Array] = None          # [n] int32 (host): the raw user's index among all splits' users
  item_log_q: Optional[Array] = None        # [n] float32: log sampling probability of the item (retrieval)

  def __len__(self) -> int:
    return len(self.label)

  def take(self, index) -> "Rows":
    return _take(self, index)

  def text_indices(self) -> Dict[str, Array]:
    """Per text group of TEXT_GROUPS that the rows have, each row's index into the split's table of that group."""
    indices = {"text": self.text_index, "query": self.query_index}
    return {group: indices[group] for group in TEXT_GROUPS if indices[group] is not None}


def pair_with_items(row: Rows, items: Rows, item_features: Sequence[str]) -> Rows:
  """One row per row of `items`: its item (ITEM_FIELDS and the item features' columns) with the user, context and
  history of the single row `row` (e.g. a user against the whole catalogue)."""
  n = len(items)
  repeated = jax.tree.map(lambda v: np.repeat(v[:1], n, axis=0), row)
  side = {f: getattr(items, f) for f in ITEM_FIELDS if getattr(items, f) is not None}
  categorical = {k: items.categorical[k] if k in item_features else v for k, v in repeated.categorical.items()}
  numeric = {k: items.numeric[k] if k in item_features else v for k, v in repeated.numeric.items()}
  return repeated.replace(categorical=categorical, numeric=numeric, **side)


@dataclasses.dataclass
class FeatureArrays:
  """One split: rows, text tables, and what the split has as a whole (set by data/prepare.py and the evaluation)."""
  rows: Rows
  texts: TextTables = dataclasses.field(default_factory=TextTables)
  seen: Optional[Any] = None          # data.item_sets.ItemSets: each user_key's items of the earlier splits
  interacted: Optional[Any] = None    # ItemSets: each user_key's items of every split
  negatives: Optional[Any] = None     # [queries, num] catalogue keys: sampled-ranking candidates (evaluation)
  raw: Optional[Dict[str, Any]] = None   # the catalogue's raw item id, texts and item features (rec_jax.analysis)

  def __len__(self) -> int:
    return len(self.rows)

  def select(self, index) -> "FeatureArrays":
    """Rows `index` (indices or a boolean mask); text tables and per-split data stay shared."""
    return dataclasses.replace(self, rows=self.rows.take(index))


@struct.dataclass
class Batch:
  """The device inputs of one step or evaluation batch, [batch, ...] each; `weight` is 0 on padding rows."""
  label: Array
  weight: Array
  user_id: Array
  item_id: Array
  history: Array
  categorical: Dict[str, Array]
  numeric: Dict[str, Array]
  text: Optional[TextBlock] = None
  query: Optional[TextBlock] = None
  item_log_q: Optional[Array] = None
  negatives: Optional["Batch"] = None   # retrieval's extra negative rows (tasks/clicked_rows.py)

  def __len__(self) -> int:
    return len(self.label)


@struct.dataclass
class PackedSequences:
  """A next-item training batch of whole user sequences packed into fixed-length rows (tasks/packed_sequences.py),
  [rows, length] int32 each: `items` the item ids, PAD after a row's last sequence; `segment` which of the row's
  sequences a position belongs to (1, 2, ...; 0 at padding); `position` the item's index within its sequence
  (what the encoder's position embedding reads). A position attends within its own segment only."""
  items: Array
  segment: Array
  position: Array

  def __len__(self) -> int:
    return len(self.items)
