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

B = TypeVar("B")


def step_batches(make: Callable[[int], B], first: int, last: int, prefetch: int) -> Iterator[B]:
  """`make(step)` for step = first, ..., last - 1, in order; `prefetch` of them made ahead (0: none)."""
  if prefetch <= 0 or first >= last:
    return (make(step) for step in range(first, last))
  import grain  # pylint: disable=import-outside-toplevel  (only runs that prefetch pay its import)
  dataset = grain.MapDataset.range(first, last).map(make)
  return iter(dataset.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch)))
