"""Tests that next_item's packed training trains each user's clicks once: windows tile the train sequence (every
click but the first a target exactly once), packing fits every window whole into rows without overlap, batches
are a pure function of (seed, step), and a packed row gives the causal encoder's states, targets and loss of each
of its sequences alone, so packing changes no prediction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rec_jax.batch import PAD, FeatureArrays, PackedSequences
from rec_jax.data.histories import prior_histories
from rec_jax.tasks.packed_sequences import PackedSequenceRows, pack, sequence_windows
from tests.batches import make_batch, make_rows
from tests.models.zoo.test_sequential import _model

LENGTH = 3   # features.history_length


def _train(sequences):
  """The train split of users' click sequences (item ids >= 2), rows chronological, histories as the data layer
  makes them (the last LENGTH earlier clicks, left-aligned)."""
  user = np.concatenate([[u] * len(s) for u, s in enumerate(sequences)])
  item = np.concatenate(sequences)
  time = np.concatenate([np.arange(len(s)) for s in sequences])
  order = np.lexsort((user, time))   # Interleave the users by time, as a real log would.
  user, item, time = user[order], item[order], time[order]
  lists = prior_histories(user, item, time, np.arange(len(user)), np.ones(len(user), bool),
                          np.zeros(len(user), np.int8), LENGTH)
  history = np.full((len(user), LENGTH), PAD, np.int32)
  for r, h in enumerate(lists):
    history[r, :len(h)] = h
  rows = make_rows(label=np.ones(len(user), np.float32), user_id=user.astype(np.int32),
                   item_id=item.astype(np.int32), history=history, user_key=user.astype(np.int32))
  return FeatureArrays(rows)


SEQUENCES = [np.array([2, 3, 4, 5, 6, 7, 8, 9]), np.array([10, 11]), np.array([12]), np.array([4, 3, 2, 5, 6])]


def test_windows_cover_every_click_but_the_first_once_as_a_target():
  by_user = [[w.tolist() for w in sequence_windows(_train([s]))] for s in SEQUENCES]
  # With the users' clicks interleaved in time: the same windows, users in order.
  assert [w.tolist() for w in sequence_windows(_train(SEQUENCES))] == sum(by_user, [])
  # 8 clicks, windows of at most 4 ending at the last click, consecutive windows sharing one item.
  assert by_user[0] == [[2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
  assert by_user[1] == [[10, 11]]
  assert by_user[2] == []   # A single click predicts nothing.
  assert by_user[3] == [[4, 3], [3, 2, 5, 6]]
  for sequence, user_windows in zip(SEQUENCES, by_user):
    targets = [item for w in user_windows for item in w[1:]]
    assert targets == sequence[1:].tolist()


@pytest.mark.parametrize("seed", range(5))
def test_packing_places_every_sequence_whole_without_overlap(seed):
  lengths = np.random.default_rng(seed).integers(1, 9, size=60)
  row, offset, num_rows = pack(lengths, 8)
  taken = np.zeros((num_rows, 8), int)
  for r, o, n in zip(row, offset, lengths):
    assert o + n <= 8
    taken[r, o:o + n] += 1
  assert taken.max() == 1 and taken.sum() == lengths.sum()
  # Best-fit decreasing uses at most 11/9 OPT + 6/9 rows, and OPT >= the positions / 8.
  assert num_rows <= 11 / 9 * -(-lengths.sum() // 8) + 6 / 9
  with pytest.raises(ValueError, match="does not fit"):
    pack(np.array([9]), 8)


def test_packed_rows_hold_the_windows_with_segments_and_positions():
  rows = PackedSequenceRows.from_train(_train(SEQUENCES), capacity=LENGTH + 1)
  p = rows.packed
  assert rows.num_sequences == 3 + 1 + 2 and rows.num_targets == 7 + 1 + 4
  found = []
  for r in range(len(p)):
    for s in range(1, p.segment[r].max() + 1):
      at = p.segment[r] == s
      np.testing.assert_array_equal(p.position[r][at], np.arange(at.sum()))
      found.append(p.items[r][at].tolist())
    assert (p.items[r][p.segment[r] == 0] == PAD).all()
  assert sorted(found) == sorted(w.tolist() for w in sequence_windows(_train(SEQUENCES)))
  assert rows.describe()["fill"] == pytest.approx(np.mean(p.segment > 0))


def test_batches_are_a_pure_function_of_seed_and_step():
  rows = PackedSequenceRows.from_train(_train(SEQUENCES * 4), capacity=LENGTH + 1)
  a, b = rows.batch(3, 2, seed=7), rows.batch(3, 2, seed=7)
  np.testing.assert_array_equal(a.items, b.items)
  epoch = np.concatenate([rows.batch(s, 2, seed=7).items for s in range(len(rows) // 2)])
  assert len({tuple(r) for r in epoch.tolist()}) == len({tuple(r) for r in rows.packed.items[:len(epoch)].tolist()})
  with pytest.raises(ValueError, match="packed rows, fewer than one batch"):
    rows.batch(0, len(rows) + 1, seed=0)


def test_a_packed_row_trains_each_sequence_as_if_alone():
  model = _model("sasrec")   # history_length 4: rows of 5 positions
  first, second = np.array([3, 4, 5]), np.array([7, 2])
  packed = PackedSequences(items=np.array([[3, 4, 5, 7, 2]], np.int32), segment=np.array([[1, 1, 1, 2, 2]], np.int32),
                           position=np.array([[0, 1, 2, 0, 1]], np.int32))
  states, targets, weights = model.packed_targets(packed, jax.random.key(0), mask_prob=0.0)
  np.testing.assert_array_equal(weights, [[1, 1, 0, 1, 0]])
  np.testing.assert_array_equal(targets[0, [0, 1, 3]], [4, 5, 2])
  for sequence, at in ((first, slice(0, 3)), (second, slice(3, 5))):
    history = np.zeros((1, 4), np.int32)
    history[0, :len(sequence) - 1] = sequence[:-1]
    alone, alone_targets, alone_weights = model.next_item_targets(
        make_batch(history=history, item_id=sequence[-1:].astype(np.int32)), jax.random.key(0), mask_prob=0.0)
    n = len(sequence)
    np.testing.assert_allclose(states[0, at], alone[0, :n], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(targets[0, at][:n - 1], alone_targets[0, :n - 1])
    assert float(jnp.sum(alone_weights)) == n - 1
