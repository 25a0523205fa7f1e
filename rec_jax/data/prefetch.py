"""The training loop's batches, made ahead of the step that needs them (`step_batches`).

Batches are a pure function of (seed, step) (data/pipeline.py), so the loader's whole state is the next step: a
resumed run starts the iterator at its restored step and sees exactly the batches an uninterrupted run would.
With `data.prefetch` = k > 0 a grain pipeline (`MapDataset.range(steps).map(batch)` read by one background thread
with k batches buffered) makes them while the devices run the current step; gathering rows is numpy work that
releases the GIL for most of its time. Worker processes are not used: on CPU hosts XLA's step already uses every
core, and the row stores (data/streaming/row_store.py) are memory maps any thread reads. 0: each batch is made in
the loop, before its step.
"""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

from rec_jax.errors import UserError

B = TypeVar("B")
# grain's thread makes batches as fast as it can until its buffer is full: a buffer of thousands would hold most of
# a run's batches in memory (a Criteo batch of 4096 rows is ~2 MB; 9000 steps, ~18 GB). A few hide a step's data
# work; more buy nothing.
MAX_PREFETCH = 64


def check_prefetch(value) -> int:
  """`data.prefetch` as an integer 0..MAX_PREFETCH, else a UserError naming it."""
  if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PREFETCH:
    raise UserError(f"data.prefetch={value!r} must be an integer from 0 to {MAX_PREFETCH} (batches made ahead and "
                    "held in memory; 2 hides the data work of a step)")
  return value


def step_batches(make: Callable[[int], B], first: int, last: int, prefetch: int) -> Iterator[B]:
  """`make(step)` for step = first, ..., last - 1, in order; `prefetch` of them made ahead (0: none)."""
  check_prefetch(prefetch)
  if prefetch == 0 or first >= last:
    return (make(step) for step in range(first, last))
  import grain  # pylint: disable=import-outside-toplevel  (only runs that prefetch pay its import)
  dataset = grain.MapDataset.range(first, last).map(make)
  return iter(dataset.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch)))
