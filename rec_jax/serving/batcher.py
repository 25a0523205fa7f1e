"""Request batching: concurrent requests of one endpoint are gathered and run as one call of the service, in one
worker thread that owns the model (JAX calls never interleave).

No request waits for others on purpose: while a batch runs, the requests that arrive queue up, and the next batch
takes all of them (up to `max_batch`). At low load every request runs alone, at once; under load the calls grow and
their fixed cost (dispatch, the top-K scan over the catalogue) is shared. A batch that fails is re-run one request at
a time, so a bad request fails alone with its own error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, List, Optional, Tuple


class Batcher:
  def __init__(self, run: Callable[[List[Any]], List[Any]], executor: concurrent.futures.Executor,
               max_batch: int = 64, observe: Optional[Callable[[int], None]] = None):
    self.run, self.executor, self.max_batch, self.observe = run, executor, max_batch, observe
    self._queue: Optional[asyncio.Queue] = None
    self._task: Optional[asyncio.Task] = None

  async def submit(self, item: Any) -> Any:
    if self._queue is None:
      self._queue = asyncio.Queue()
      self._task = asyncio.get_running_loop().create_task(self._loop())
    future = asyncio.get_running_loop().create_future()
    await self._queue.put((item, future))
    return await future

  async def _loop(self) -> None:
    loop = asyncio.get_running_loop()
    while True:
      batch: List[Tuple[Any, asyncio.Future]] = [await self._queue.get()]
      while len(batch) < self.max_batch and not self._queue.empty():
        batch.append(self._queue.get_nowait())
      batch = [(item, f) for item, f in batch if not f.cancelled()]
      if not batch:
        continue
      if self.observe is not None:
        self.observe(len(batch))
      results = await loop.run_in_executor(self.executor, self._run_batch, [item for item, _ in batch])
      for (_, future), (ok, value) in zip(batch, results):
        if future.cancelled():
          continue
        if ok:
          future.set_result(value)
        else:
          future.set_exception(value)

  def _run_batch(self, items: List[Any]) -> List[Tuple[bool, Any]]:
    try:
      return [(True, r) for r in self.run(items)]
    except Exception as e:  # noqa: BLE001  (re-run alone: each request gets its own result or error)
      if len(items) == 1:
        return [(False, e)]
      out = []
      for item in items:
        try:
          out.append((True, self.run([item])[0]))
        except Exception as e:  # noqa: BLE001
          out.append((False, e))
      return out

  async def close(self) -> None:
    if self._task is not None:
      self._task.cancel()
      try:
        await self._task
      except asyncio.CancelledError:
        pass
