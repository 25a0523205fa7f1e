"""step_batches: the same batches in the same order with or without grain's prefetching thread, from any step."""

import threading

from rec_jax.data.prefetch import step_batches


def test_prefetched_batches_are_the_loop_batches_in_order():
  made = []

  def make(step):
    made.append(threading.get_ident())
    return {"step": step, "value": step * step}

  plain = list(step_batches(make, 3, 40, 0))
  assert [b["step"] for b in plain] == list(range(3, 40)) and set(made) == {threading.get_ident()}
  made.clear()
  ahead = list(step_batches(make, 3, 40, 4))
  assert ahead == plain
  assert threading.get_ident() not in made   # made in grain's background thread
  assert not list(step_batches(make, 5, 5, 2))


def test_a_loop_stopping_early_leaves_nothing_waiting():
  batches = step_batches(lambda s: s, 0, 1000, 2)
  assert [next(batches) for _ in range(3)] == [0, 1, 2]
  del batches   # an early stop: the iterator is dropped with its prefetched batches
