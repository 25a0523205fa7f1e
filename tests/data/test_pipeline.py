import numpy as np

from rec_jax.data.features import FeatureArrays
from rec_jax.data.pipeline import eval_batches, text_slot_count, train_batch


def _arrays(n=103):
  rows = {"label": np.arange(n, dtype=np.float32), "text_index": np.arange(n) % 3}
  return FeatureArrays(rows, {"text_ids": np.arange(3)[:, None] * np.ones((3, 4), np.int32)})


def test_train_batches_are_a_function_of_seed_and_step():
  a = _arrays()
  b1, b2 = train_batch(a, 7, 10, seed=0), train_batch(a, 7, 10, seed=0)
  np.testing.assert_array_equal(b1["label"], b2["label"])
  assert not np.array_equal(b1["label"], train_batch(a, 7, 10, seed=1)["label"])
  # One epoch (10 full batches of 103 rows) visits 100 distinct rows.
  epoch = np.concatenate([train_batch(a, s, 10, 0)["label"] for s in range(10)])
  assert len(np.unique(epoch)) == 100
  # Each distinct text once; each row finds its own text through text_slot.
  np.testing.assert_array_equal(b1["text_ids"][b1["text_slot"], 0], b1["label"].astype(int) % 3)
  assert len(b1["text_ids"]) == text_slot_count(3, 10) == 3


def test_eval_batches_cover_each_row_once_with_padding_masked():
  a = _arrays(103)
  batches = list(eval_batches(a, 25))
  assert len(batches) == 5 and all(len(b["label"]) == 25 for b in batches)
  real = np.concatenate([b["label"][b["weight"] > 0] for b in batches])
  np.testing.assert_array_equal(real, np.arange(103))
  assert batches[-1]["weight"].sum() == 3


def test_text_slots_are_bucketed_and_bounded_by_batch():
  assert text_slot_count(723, 1024) == 768
  assert text_slot_count(1, 1024) == 128
  assert text_slot_count(1024, 1024) == 1024
  assert text_slot_count(5, 8) == 5


def test_queries_get_their_own_deduplicated_block_and_slots():
  n = 40
  rows = {"label": np.arange(n, dtype=np.float32), "text_index": np.arange(n) % 3, "query_index": np.arange(n) % 5}
  tables = {"text_ids": np.arange(3)[:, None] * np.ones((3, 4), np.int32),
            "query_ids": 10 + np.arange(5)[:, None] * np.ones((5, 2), np.int32)}
  batch = train_batch(FeatureArrays(rows, tables), 0, 20, seed=0)
  assert "query_index" not in batch and "text_index" not in batch
  assert len(batch["query_ids"]) == text_slot_count(5, 20) and len(batch["text_ids"]) == text_slot_count(3, 20)
  np.testing.assert_array_equal(batch["query_ids"][batch["query_slot"], 0], 10 + batch["label"].astype(int) % 5)
  np.testing.assert_array_equal(batch["text_ids"][batch["text_slot"], 0], batch["label"].astype(int) % 3)
