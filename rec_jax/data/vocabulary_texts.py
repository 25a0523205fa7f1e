"""Each item-vocabulary id's text, for models that need every item's text vector at once (the sequential model
with `model.use_text`: its full softmax scores every item of the vocabulary, each by its id vector plus its text
vector).

A split's rows carry their item's text as an index into the split's text table (rec_jax/batch.py); this gathers,
for every id of the item vocabulary, the text of its first row in the split. The train split is the one to read:
the item vocabulary is fitted on it, so every id but PAD and OOV has a row there. PAD, OOV (which stands for
every item the vocabulary lacks) and ids without a row are marked unknown (`known` False): models give them no
text vector.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from rec_jax.batch import OOV, PAD, FeatureArrays, Texts
from rec_jax.errors import UserError


def vocabulary_texts(split: FeatureArrays, vocab_size: int) -> Optional[Tuple[Texts, np.ndarray]]:
  """(texts [vocab_size, ...] in the split's text form, known [vocab_size] bool), or None when the split has no
  item texts. An id without a row gets the table's first text, marked unknown."""
  table, rows = split.texts.text, split.rows
  if table is None or rows.text_index is None:
    return None
  ids = np.asarray(rows.item_id)
  if len(ids) and (ids.min() < 0 or ids.max() >= vocab_size):
    raise UserError(f"item ids of the split run from {ids.min()} to {ids.max()}, outside the item vocabulary of "
                    f"{vocab_size}")
  first = np.full(vocab_size, -1, np.int64)
  order = np.arange(len(ids))[::-1]   # the last write wins: written in reverse, each id keeps its first row
  first[ids[order]] = order
  known = first >= 0
  known[[PAD, OOV]] = False   # OOV stands for every item the vocabulary lacks (rare ones too): no one text is its
  index = np.asarray(rows.text_index)[np.maximum(first, 0)] if len(ids) else np.zeros(vocab_size, np.int64)
  return table.take(np.where(known, index, 0)), known
