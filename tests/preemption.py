"""A preemption, for the tests of exact resume: a run stopped right after a checkpoint is committed. This is a test
hook (it wraps the checkpointer), not a path of the production training loop."""

from __future__ import annotations

from rec_jax import train
from rec_jax.checkpoint import Checkpointer


class Preempted(Exception):
  """Raised by the wrapped checkpointer once the latest checkpoint at or after the given step is written."""


def preempt_after(config, workdir: str, step: int) -> int:
  """Runs train_and_evaluate(config, workdir) until its latest checkpoint at or after `step` is on disk, then stops
  it as a preemption would (the loop's cleanup runs; results.json is not written); returns the checkpoint's step."""
  save_latest = Checkpointer.save_latest

  def save_then_stop(self, at: int, state, force: bool = False) -> bool:
    saved = save_latest(self, at, state, force)
    if saved and at >= step:
      self.wait()
      raise Preempted(at)
    return saved

  Checkpointer.save_latest = save_then_stop
  try:
    train.train_and_evaluate(config, workdir)
  except Preempted as stopped:
    return stopped.args[0]
  finally:
    Checkpointer.save_latest = save_latest
  raise AssertionError(f"the run in {workdir} finished without a checkpoint at or after step {step}")
