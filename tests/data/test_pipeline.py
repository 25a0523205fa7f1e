import numpy as np

from rec_jax.batch import FeatureArrays, Texts, TextTables
from rec_jax.data.pipeline import eval_batch_size, eval_batches, eval_indices, text_slot_count, train_batch
from tests.batches import make_rows


def _texts(values, width):
  ids = np.asarray(values)[:, None] * np.ones((len(values), width), np.int32)
  return Texts(ids=ids, mask=np.ones_like(ids), types=np.zeros_like(ids))


def _arrays(n=103):
  rows = make_rows(label=np.arange(n, dtype=np.float32), text_index=np.arange(n) % 3)
  return FeatureArrays(rows, TextTables(text=_texts(np.arange(3), 4)))


def test_train_batches_are_a_function_of_seed_and_step():
  a = _arrays()
  b1, b2 = train_batch(a, 7, 10, seed=0), train_batch(a, 7, 10, seed=0)
  np.testing.assert_array_equal(b1.label, b2.label)
  assert not np.array_equal(b1.label, train_batch(a, 7, 10, seed=1).label)
  # One epoch (10 full batches of 103 rows) visits 100 distinct rows.
  epoch = np.concatenate([train_batch(a, s, 10, 0).label for s in range(10)])
  assert len(np.unique(epoch)) == 100
  # Each distinct text once; each row finds its own text through its slot.
  np.testing.assert_array_equal(b1.text.texts.ids[b1.text.slot, 0], b1.label.astype(int) % 3)
  assert len(b1.text.texts.ids) == text_slot_count(3, 10) == 3


def test_eval_batches_cover_each_row_once_with_padding_masked():
  a = _arrays(103)
  batches = list(eval_batches(a, 25))
  assert len(batches) == 5 and all(len(b.label) == 25 for b in batches)
  real = np.concatenate([b.label[b.weight > 0] for b in batches])
  np.testing.assert_array_equal(real, np.arange(103))
  assert batches[-1].weight.sum() == 3


def test_text_slots_are_bucketed_and_bounded_by_batch():
  assert text_slot_count(723, 1024) == 768
  assert text_slot_count(1, 1024) == 128
  assert text_slot_count(1024, 1024) == 1024
  assert text_slot_count(5, 8) == 5


def test_queries_get_their_own_deduplicated_block_and_slots():
  n = 40
  rows = make_rows(label=np.arange(n, dtype=np.float32), text_index=np.arange(n) % 3, query_index=np.arange(n) % 5)
  tables = TextTables(text=_texts(np.arange(3), 4), query=_texts(10 + np.arange(5), 2))
  batch = train_batch(FeatureArrays(rows, tables), 0, 20, seed=0)
  # The batch carries blocks of distinct texts, not the rows' indices into the split's tables.
  assert not hasattr(batch, "query_index") and not hasattr(batch, "text_index")
  assert len(batch.query.texts.ids) == text_slot_count(5, 20) and len(batch.text.texts.ids) == text_slot_count(3, 20)
  np.testing.assert_array_equal(batch.query.texts.ids[batch.query.slot, 0], 10 + batch.label.astype(int) % 5)
  np.testing.assert_array_equal(batch.text.texts.ids[batch.text.slot, 0], batch.label.astype(int) % 3)


def test_an_evaluation_batch_is_no_larger_than_its_split_needs():
  """A split smaller than eval.batch_size is not padded to it (an eval.batch_size of 10^8 filled 20 GB): its rows
  rounded up to the devices times a power of two, so similar splits share one compiled shape."""
  assert eval_batch_size(600, 4096) == 1024
  assert eval_batch_size(590, 4096) == 1024
  assert eval_batch_size(600, 10 ** 8) == 1024
  assert eval_batch_size(600, 4096, multiple=4) == 4 * 256
  assert eval_batch_size(601, 4096, multiple=6) == 6 * 128
  assert eval_batch_size(5000, 4096) == 4096
  assert eval_batch_size(3000, 2048 + 8) == 2056   # never above eval.batch_size
  assert eval_batch_size(0, 4096) == 1
  batches = list(eval_indices(600, 10 ** 8))
  assert len(batches) == 1 and len(batches[0][0]) == 1024 and batches[0][1].sum() == 600
  index = np.concatenate([i[w > 0] for i, w in eval_indices(10_000, 4096, multiple=4)])
  assert (index == np.arange(10_000)).all()
