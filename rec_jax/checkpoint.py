"""Orbax checkpoints of a run: `checkpoints/latest` every N steps (for resuming) and `checkpoints/best` keeping
the best k by an evaluation metric. A checkpoint holds the train state `{params, opt_state, step, frozen_sha256}`
(`initial_state`): trainable parameters only; frozen ones (a pretrained BERT under LoRA) are rebuilt from the
config and must match the fingerprint (`check_frozen`). Restore checks the saved tree against the model and names
what differs."""

from __future__ import annotations

import os
from typing import Optional

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp

from rec_jax.errors import UnknownNameError, UserError
from rec_jax.text.frozen import fingerprint
from rec_jax.workdir import CHECKPOINTS_DIR


def initial_state(tx: optax.GradientTransformation, params, frozen):
  """(a fresh train state, the frozen weights' fingerprint): the pytree checkpoints save and restore."""
  frozen_sha = np.frombuffer(bytes.fromhex(fingerprint(frozen)), np.uint8)
  state = {"params": params, "opt_state": tx.init(params), "step": np.asarray(0, np.int64),
           "frozen_sha256": frozen_sha}
  return state, frozen_sha


def check_frozen(restored, frozen_sha: np.ndarray) -> None:
  """A checkpoint holds only trainable parameters; the frozen ones are rebuilt from the config, so they must be
  the very weights the checkpoint was trained with."""
  if not np.array_equal(np.asarray(restored["frozen_sha256"]), frozen_sha):
    raise UserError("the frozen weights built from this config (e.g. model.text.pretrained's checkpoint) differ "
                     "from those this run's checkpoints were trained with: restore the original checkpoint files "
                     "or start a new workdir")


def _path_name(path) -> str:
  """'params.cf.items.embedding' for dict keys, attributes and sequence indices alike."""
  return ".".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def _shapes(tree):
  return {_path_name(p): tuple(getattr(v, "shape", ())) for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def _describe_mismatch(expected, found) -> str:
  exp, got = _shapes(expected), _shapes(found)
  missing = sorted(set(exp) - set(got))[:5]
  unexpected = sorted(set(got) - set(exp))[:5]
  shapes = [f"{k}: checkpoint {got[k]} vs model {exp[k]}" for k in sorted(set(exp) & set(got))
            if got[k] != exp[k]][:5]
  return f"missing {missing}; unexpected {unexpected}; shape mismatches {shapes}"


class Checkpointer:
  """Saves train state pytrees {params, opt_state, step}; resumes from the latest, evaluates from the best."""

  def __init__(self, workdir: str, every_steps: int, keep: int, keep_best: int, best_metric: str,
               best_mode: str):
    root = os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR)
    self.latest = ocp.CheckpointManager(
        os.path.join(root, "latest"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every_steps, create=True))
    self.best_metric = best_metric
    self.best = ocp.CheckpointManager(
        os.path.join(root, "best"),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep_best, create=True, best_fn=lambda m: m[best_metric], best_mode=best_mode,
            keep_checkpoints_without_metrics=False))

  def save_latest(self, step: int, state, force: bool = False) -> bool:
    return self.latest.save(step, args=ocp.args.StandardSave(state), force=force)

  def save_best(self, step: int, state, metrics: dict) -> bool:
    if self.best_metric not in metrics:
      raise UnknownNameError(f"checkpoint.best_metric={self.best_metric!r} is not among the eval metrics {sorted(metrics)}")
    return self.best.save(step, args=ocp.args.StandardSave(state), metrics={k: float(v) for k, v in metrics.items()})

  def latest_step(self) -> Optional[int]:
    return self.latest.latest_step()

  def best_step(self) -> Optional[int]:
    return self.best.best_step()

  def forget_best_after(self, step: int) -> None:
    """Drops best-k checkpoints newer than a resumed step: the resumed run will reach and judge them again."""
    for s in self.best.all_steps():
      if s > step:
        self.best.delete(s)

  def _restore(self, manager: ocp.CheckpointManager, step: int, target):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    try:
      return manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError) as e:
      found = manager.restore(step, args=ocp.args.StandardRestore())
      raise UserError(f"checkpoint {manager.directory}/{step} does not fit the model: "
                       f"{_describe_mismatch(target, found)} ({e})") from e

  def restore_latest(self, target):
    return self._restore(self.latest, self.latest_step(), target)

  def restore_best(self, target):
    return self._restore(self.best, self.best_step(), target)

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.latest.close()
    self.best.close()
