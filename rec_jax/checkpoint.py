"""Orbax checkpoints of a run: `checkpoints/latest` every N steps (for resuming) and `checkpoints/best` keeping
the best k by an evaluation metric. A checkpoint holds the train state `{params, opt_state, step, frozen_sha256}`
(`initial_state`): trainable parameters only; frozen ones (a pretrained BERT under LoRA) are rebuilt from the
config and must match the fingerprint (`check_frozen`). Restore checks the saved tree against the model and names
what differs.

Damage: each checkpoint's digest (sha256 of its arrays) is written before orbax saves it, under
`checkpoints/digests/`, and checked after a restore, so a truncated or bit-flipped file is found even where it still
decodes. Resuming falls back from a damaged latest checkpoint to the newest intact one (with a warning; the damaged
ones are deleted, the resumed run writes them again); a damaged best checkpoint is a named error. Orbax's temporary
directories of a save that a kill interrupted are removed when the checkpointer opens.

Many processes (rec_jax/distributed.py): every process calls the checkpointer alike (orbax coordinates their
writes: each its shards, process 0 the metadata); every process computes the digests (gathering arrays sharded
over processes is a collective), process 0 alone writes, cleans and removes files of its own."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
from typing import Optional

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp

from rec_jax import distributed
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.parallel import to_host
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
  """What differs between the model's state and a checkpoint's tree ('' when nothing does)."""
  exp, got = _shapes(expected), _shapes(found)
  missing = sorted(set(exp) - set(got))[:5]
  unexpected = sorted(set(got) - set(exp))[:5]
  shapes = [f"{k}: checkpoint {got[k]} vs model {exp[k]}" for k in sorted(set(exp) & set(got))
            if got[k] != exp[k]][:5]
  if not (missing or unexpected or shapes):
    return ""
  return f"missing {missing}; unexpected {unexpected}; shape mismatches {shapes}"


def state_digest(state) -> str:
  """sha256 over a state's arrays (paths, dtypes, shapes, bytes): equal for a state and its faithful restore."""
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(to_host(state)):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{_path_name(path)}|{a.dtype.str}|{a.shape}|".encode())
    h.update(memoryview(a).cast("B"))
  return h.hexdigest()


class DamagedCheckpoint(UserError):
  """A checkpoint whose files cannot be read back, or read back to other arrays than were saved."""


class Checkpointer:
  """Saves train state pytrees {params, opt_state, step}; resumes from the latest, evaluates from the best."""

  def __init__(self, workdir: str, every_steps: int, keep: int, keep_best: int, best_metric: str,
               best_mode: str, read_only: bool = False):
    """`read_only`: a reader of the run (rec_jax.analysis, rec_jax.export), which leaves the unfinished saves of a
    killed (or still running) training process alone; the training process removes them when it resumes."""
    root = os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR)
    if distributed.is_primary() and not read_only:
      _remove_interrupted_saves(root)
    self.digests = os.path.join(root, "digests")
    os.makedirs(self.digests, exist_ok=True)
    # Both managers save the same step at once; with many processes orbax synchronises each save by a barrier
    # named after the step, so each manager names its own (else: "Barrier _async_write_complete.20 is already
    # ongoing", and a hang).
    self.latest = ocp.CheckpointManager(
        os.path.join(root, "latest"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every_steps, create=True,
                                             multiprocessing_options=_barriers("latest")))
    self.best_metric = best_metric
    self.best = ocp.CheckpointManager(
        os.path.join(root, "best"),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=keep_best, create=True, best_fn=lambda m: m[best_metric], best_mode=best_mode,
            keep_checkpoints_without_metrics=False, multiprocessing_options=_barriers("best")))

  def _digest_path(self, manager: ocp.CheckpointManager, step: int) -> str:
    return os.path.join(self.digests, f"{os.path.basename(str(manager.directory))}_{step}.json")

  def _write_digest(self, manager: ocp.CheckpointManager, step: int, state) -> None:
    """Before the save starts, so a committed checkpoint always has its digest (a digest without a checkpoint,
    from a save a kill interrupted, is overwritten by the next save of that step)."""
    digest = state_digest(state)   # On every process: a collective where arrays span processes.
    if not distributed.is_primary():
      return
    path = self._digest_path(manager, step)
    with open(path + ".tmp", "w") as f:
      json.dump({"step": step, "sha256": digest}, f)
    os.replace(path + ".tmp", path)

  def save_latest(self, step: int, state, force: bool = False) -> bool:
    if not force and not self.latest.should_save(step):
      return False
    self._write_digest(self.latest, step, state)
    return self.latest.save(step, args=ocp.args.StandardSave(state), force=force)

  def save_best(self, step: int, state, metrics: dict) -> bool:
    if self.best_metric not in metrics:
      raise UnknownNameError(f"checkpoint.best_metric={self.best_metric!r} is not among the eval metrics "
                             f"{sorted(metrics)}")
    self._write_digest(self.best, step, state)
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
    where = f"{manager.directory}/{step}"
    try:
      restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # pylint: disable=broad-except  (orbax and TensorStore raise many types for bad files)
      try:
        found = manager.restore(step, args=ocp.args.StandardRestore())
      except Exception:  # pylint: disable=broad-except
        raise DamagedCheckpoint(f"checkpoint {where} is damaged: {_first_line(e)}") from e
      mismatch = _describe_mismatch(target, found)
      if mismatch:
        raise UserError(f"checkpoint {where} does not fit the model: {mismatch} ({_first_line(e)})") from e
      raise DamagedCheckpoint(f"checkpoint {where} is damaged: {_first_line(e)}") from e
    path = self._digest_path(manager, step)
    if os.path.exists(path):
      try:
        with open(path) as f:
          expected = json.load(f)["sha256"]
      except (OSError, ValueError, KeyError, TypeError) as e:
        raise DamagedCheckpoint(f"checkpoint {where} cannot be verified: its digest {path} is damaged ({e})") from e
      if state_digest(restored) != expected:
        raise DamagedCheckpoint(f"checkpoint {where} is damaged: its arrays differ from those saved (digest "
                                f"{os.path.basename(path)})")
    return restored

  def restore_latest(self, target, delete_damaged: bool = True):
    """The newest intact latest checkpoint; damaged newer ones are skipped with a warning and, with
    `delete_damaged` (a resuming run, which saves those steps again; not rec_jax.analysis), deleted. None intact:
    a named error."""
    damaged = []
    for step in sorted(self.latest.all_steps(), reverse=True):
      try:
        state = self._restore(self.latest, step, target)
      except DamagedCheckpoint as e:
        damaged.append((step, str(e)))
        continue
      for bad, why in damaged:
        logging.warning("%s; %s step %d instead%s", why, "resuming from" if delete_damaged else "reading", step,
                        " and deleting it" if delete_damaged else "")
        if delete_damaged:
          self.latest.delete(bad)
      return state
    raise UserError(f"every checkpoint in {self.latest.directory} is damaged ({'; '.join(w for _, w in damaged)}): "
                    f"delete {self.latest.directory} to train again from step 0, or use a new --workdir")

  def restore_best(self, target):
    try:
      return self._restore(self.best, self.best_step(), target)
    except DamagedCheckpoint as e:
      raise UserError(f"{e}: it is the run's best checkpoint, which the final evaluation reads; restore it from a "
                      "copy, or train again in a new --workdir") from e

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    if not distributed.is_primary():
      return
    kept = {os.path.basename(self._digest_path(m, s)) for m in (self.latest, self.best) for s in m.all_steps()}
    for path in glob.glob(os.path.join(self.digests, "*.json")):
      if os.path.basename(path) not in kept:
        os.remove(path)   # of a checkpoint orbax has since dropped (max_to_keep, best-k)

  def close(self) -> None:
    self.latest.close()
    self.best.close()


def _barriers(prefix: str) -> ocp.options.MultiprocessingOptions:
  return ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=prefix)


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def _remove_interrupted_saves(root: str) -> None:
  """Orbax writes a step into a temporary directory and renames it when complete; a kill leaves the temporary one,
  which is garbage (the step is not committed) and which orbax warns about on every later save."""
  for tmp in glob.glob(os.path.join(root, "*", "*.orbax-checkpoint-tmp*")):
    logging.info("removing %s: a checkpoint save that was interrupted", tmp)
    shutil.rmtree(tmp, ignore_errors=True)
