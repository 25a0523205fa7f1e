"""A finished (or interrupted) run loaded back from its workdir: resolved config, feature processor, prepared data,
and the model with the parameters of its best or latest checkpoint."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import ml_collections
import numpy as np
from flax import nnx

from rec_jax import parallel
from rec_jax.batch import FeatureArrays
from rec_jax.checkpoint import check_frozen
from rec_jax.config.base import with_defaults
from rec_jax.data.prepare import PreparedData
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.evaluation.protocols import EvalContext, make_evaluator
from rec_jax.experiment import build_experiment
from rec_jax.train_step import make_apply, make_predict
from rec_jax.workdir import CONFIG_FILE, RunFiles

CHECKPOINTS = ("best", "latest")


@dataclasses.dataclass
class LoadedRun:
  workdir: str
  config: ml_collections.ConfigDict
  data: PreparedData
  task: Any
  graphdef: Any
  params: Any
  frozen: Any
  step: int            # the checkpoint's training step
  checkpoint: str      # "best" or "latest"
  results: Optional[dict]
  _bound: Dict[Optional[str], Any] = dataclasses.field(default_factory=dict, repr=False)

  @property
  def processor(self):
    return self.data.processor

  @property
  def catalogue(self) -> FeatureArrays:
    return self.data.catalogue

  @property
  def model(self) -> nnx.Module:
    """The model with the checkpoint's parameters (a fresh merge: changing it leaves the run untouched)."""
    return nnx.merge(self.graphdef, self.params, self.frozen)

  def split(self, name: str) -> FeatureArrays:
    if name not in self.data.splits:
      raise UnknownNameError(f"no split {name!r} in {self.workdir}; splits: {sorted(self.data.splits)}")
    return self.data.splits[name]

  @functools.cached_property
  def eval_context(self) -> EvalContext:
    """On one device: analysis is interactive, and any eval batch size divides over one device."""
    return EvalContext(self.graphdef, self.frozen, parallel.make_mesh(1), self.task, self.config.eval,
                       self.data.catalogue)

  @functools.cached_property
  def evaluator(self):
    """(params, arrays) -> metrics: the run's evaluation protocol, compiled once per loaded run."""
    return make_evaluator(self.eval_context)

  def bound(self, method: Optional[str] = None):
    """batch -> the model's `method` output (None: the task's pointwise prediction), jitted once per method."""
    if method not in self._bound:
      ctx = self.eval_context
      jitted = make_predict(self.graphdef, self.task, ctx.mesh) if method is None else \
          make_apply(self.graphdef, method, ctx.mesh)
      self._bound[method] = ctx.bind(jitted, self.params)
    return self._bound[method]

  def user_key(self, user) -> int:
    """The `user_key` of a raw user id (or the key itself, given an int)."""
    if isinstance(user, (int, np.integer)):
      return int(user)
    users = self.data.users
    index = int(np.searchsorted(users, str(user)))
    if index >= len(users) or users[index] != str(user):
      raise UnknownNameError(f"user {user!r} is in no split of {self.workdir}")
    return index

  def item_ids(self) -> np.ndarray:
    """Raw item id of each catalogue row."""
    return self.data.catalogue.raw[self.config.features.item_id]


def read_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} does not exist: {workdir} is not a rec_jax workdir")
  with open(path) as f:
    try:
      saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise UserError(f"{path} is not valid JSON ({e})") from None
  if not isinstance(saved, dict):
    raise UserError(f"{path} holds a JSON {type(saved).__name__}, not a config object: the workdir is damaged")
  # Options added to rec_jax since the run was made take their defaults, which are what the run used.
  return ml_collections.ConfigDict(with_defaults(saved))


def load_run(workdir: str, checkpoint: str = "best") -> LoadedRun:
  """The run in `workdir` with the parameters of its `best` checkpoint (by `checkpoint.best_metric` on
  validation) or its `latest` one."""
  if checkpoint not in CHECKPOINTS:
    raise UserError(f"checkpoint={checkpoint!r}: valid are {', '.join(CHECKPOINTS)}")
  run = build_experiment(read_config(workdir), workdir, write_report=False)
  graphdef, params, frozen = nnx.split(run.model, nnx.Param, ...)
  _, state, frozen_sha = run.initial_state(params, frozen)
  ckpt = run.checkpointer(read_only=True)
  try:
    step = ckpt.best_step() if checkpoint == "best" else ckpt.latest_step()
    if step is None:
      raise FileNotFoundError(f"{workdir} has no {checkpoint} checkpoint (checkpoints/{checkpoint} is empty)")
    state = ckpt.restore_best(state) if checkpoint == "best" else ckpt.restore_latest(state, delete_damaged=False)
    step = int(state["step"])   # the step restored: an older one when the newest latest checkpoint is damaged
  finally:
    ckpt.close()
  check_frozen(state, frozen_sha)
  files = RunFiles(workdir)
  results = files.read_results() if files.finished() else None
  return LoadedRun(workdir, run.config, run.data, run.task, graphdef, state["params"], frozen, int(step), checkpoint,
                   results)


def learning_curves(workdir: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """{metric: (steps, values)} of every evaluation in metrics.jsonl (validation metrics and `train/*`)."""
  rows: List[dict] = RunFiles(workdir).read_metrics()
  names = sorted({k for r in rows for k in r} - {"step"})
  return {n: (np.array([r["step"] for r in rows if n in r]), np.array([r[n] for r in rows if n in r], np.float64))
          for n in names}
