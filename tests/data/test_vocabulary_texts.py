"""Tests that each item-vocabulary id gets the text of its first row of the split, and that PAD, OOV and ids
without a row are marked as having none."""

from __future__ import annotations

import numpy as np

from rec_jax.batch import FeatureArrays, TextTables, Texts
from rec_jax.data.vocabulary_texts import vocabulary_texts
from tests.batches import make_rows


def _split(item_id, text_index, table) -> FeatureArrays:
  rows = make_rows(label=np.ones(len(item_id), np.float32), item_id=np.array(item_id, np.int32),
                   text_index=np.array(text_index, np.int32))
  return FeatureArrays(rows, TextTables(text=table))


def test_each_id_reads_its_first_rows_text_and_pad_oov_and_absent_ids_none():
  pooled = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
  # Item 3's rows point at texts 2 then 4 (the first wins); item 1 (OOV) has a row; item 5 has none.
  split = _split([3, 2, 1, 3, 4], [2, 0, 1, 4, 3], Texts(pooled=pooled))
  texts, known = vocabulary_texts(split, 6)
  np.testing.assert_array_equal(known, [False, False, True, True, True, False])
  np.testing.assert_array_equal(texts.pooled[[2, 3, 4]], pooled[[0, 2, 3]])
  assert texts.pooled.shape == (6, 3)


def test_token_texts_keep_their_form_and_a_split_without_texts_gives_none():
  ids = np.arange(12, dtype=np.int32).reshape(3, 4)
  texts, known = vocabulary_texts(_split([2, 3], [1, 2], Texts(ids=ids, mask=np.ones_like(ids))), 4)
  np.testing.assert_array_equal(texts.ids[2:], ids[[1, 2]])
  np.testing.assert_array_equal(texts.mask[2:], 1)
  assert texts.pooled is None and list(known) == [False, False, True, True]
  rows = make_rows(label=np.ones(2, np.float32), item_id=np.array([2, 3], np.int32))
  assert vocabulary_texts(FeatureArrays(rows), 4) is None
