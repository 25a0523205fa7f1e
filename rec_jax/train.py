"""train_and_evaluate(config, workdir): check the config (rec_jax/config/checks.py), lock the workdir, build the
run (rec_jax/experiment.py), then the jitted training loop with periodic evaluation and Orbax checkpoints, resuming
from the workdir, and the final test metrics in results.json. A loss or metric that becomes NaN/inf fails the run
(rec_jax/divergence.py): nothing non-finite is checkpointed or reported."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from absl import logging
from flax import nnx

from rec_jax import distributed, parallel
from rec_jax.checkpoint import check_frozen
from rec_jax.config.base import with_defaults
from rec_jax.config.checks import check_config
from rec_jax.cross_validation import is_cross_validation, run_folds
from rec_jax.data.prefetch import step_batches
from rec_jax.divergence import DivergenceGuard
from rec_jax.early_stopping import EarlyStopping, should_stop
from rec_jax.errors import UserError
from rec_jax.evaluation.protocols import EvalContext, make_evaluator
from rec_jax.experiment import Experiment, build_experiment, preflight, resolve_config
from rec_jax.optim import learning_rate_schedule
from rec_jax.progress import Progress
from rec_jax.sparse_step import table_rows
from rec_jax.tensorboard_writer import TensorBoard
from rec_jax.text.frozen import count_parameters
from rec_jax.train_step import make_train_step, step_key
from rec_jax.workdir import RunFiles, WorkdirLock
from rec_jax.xla_cpu import select_cpu_dots


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs (or resumes, or just reports) the experiment in `workdir`; returns the final results. With
  `data.split.folds`, one run per fold (rec_jax/cross_validation.py)."""
  config = resolve_config(config)
  # Before the workdir is touched: a bad value or name neither pins it nor costs any work.
  check_config(config)
  preflight(config)
  files = RunFiles(workdir)
  with WorkdirLock(workdir):
    if is_cross_validation(config):
      return run_folds(config, workdir, train_and_evaluate)
    return _train_and_evaluate(config, files)


def _train_and_evaluate(config, files: RunFiles) -> dict:
  workdir = files.workdir
  files.write_or_check_config(config, with_defaults)
  if files.finished():
    logging.info("%s already holds a finished run; not retraining", workdir)
    return files.read_results()
  t_start = time.perf_counter()
  # A no-op when rec_jax.main already chose it; a named error if JAX started before it could be chosen.
  select_cpu_dots(config.parallel.cpu_dots)
  run = build_experiment(config, workdir)
  trainer = Trainer(run, files)
  try:
    results = trainer.train()
  finally:   # Also when a step fails or the run is stopped: no half-written checkpoint, no open event file.
    trainer.close()
  results["wall_time_s"] = time.perf_counter() - t_start
  files.write_results(results)
  m = results["metrics"]
  logging.info("final %s at step %d: %s", config.eval.final_split, results["evaluated_step"],
               " ".join(f"{k}={m[k]:.4f}" for k in run.task.metrics.summary if k in m))
  return results


class Trainer:
  """One process's part of a run: restores the latest checkpoint, trains to `train.num_steps` with evaluations and
  checkpoints, then measures the best checkpoint on the final split."""

  def __init__(self, run: Experiment, files: RunFiles):
    self.run, self.files, config = run, files, run.config
    for split in dict.fromkeys(("train", config.eval.split, config.eval.final_split)):
      if not len(run.data.splits[split]):
        raise UserError(f"the {split} split has no rows (see data_report.json in {files.workdir}): nothing to "
                        f"{'train on' if split == 'train' else 'evaluate'}; check the data and data.split")
    self.training = run.training_rows()
    logging.info("training on %s", self.training.describe())
    self.mesh = parallel.make_mesh(config.parallel.num_devices, config.parallel.model_axis)
    sizes = list(self.training.batch_sizes(config.train.batch_size))
    for size in sizes[:1] + [config.eval.batch_size] + sizes[1:]:   # Extra negatives shard too.
      parallel.check_batch_size(size, self.mesh)
    # Trainable nnx.Params vs everything else (frozen BERT weights); only the former are differentiated and saved.
    # The model is in evaluation mode (dropout off); the train step runs its training view.
    self.graphdef, params, frozen = nnx.split(run.model, nnx.Param, ...)
    run.model.train()
    self.train_graphdef = nnx.split(run.model, nnx.Param, ...)[0]
    run.model.eval()
    self.stopping = EarlyStopping.from_config(config.train.early_stopping, where="train.early_stopping")
    self.counts = {"trainable": count_parameters(params), "frozen": count_parameters(frozen)}
    logging.info("model: %d trainable parameters, %d frozen; mesh %s", self.counts["trainable"],
                 self.counts["frozen"], dict(self.mesh.shape))
    self.tx, state, self.frozen_sha = run.initial_state(params, frozen)
    tables = parallel.sharded_tables(self.mesh, table_rows(run.model), config.parallel.shard_min_rows)
    self.shardings = tuple(parallel.state_shardings(self.mesh, state[k], tables) for k in ("params", "opt_state"))
    # On the mesh from the start: a checkpoint restores straight into these shardings (orbax reshards a run saved
    # on another mesh).
    state["params"], state["opt_state"] = parallel.place((state["params"], state["opt_state"]), self.shardings)
    self.state = state
    self.frozen = frozen
    self.ckpt = run.checkpointer()
    self.guard = DivergenceGuard(f"try a lower train.learning_rate (now {config.train.learning_rate:g}) or "
                                 "train.grad_clip_norm, and check the data")
    self.board = self.progress = None

  def train(self) -> dict:
    config = self.run.config
    self._resume()
    params, opt_state = parallel.place((self.state["params"], self.state["opt_state"]), self.shardings)
    frozen = parallel.replicate(self.frozen, self.mesh)
    run_eval = make_evaluator(EvalContext(self.graphdef, frozen, self.mesh, self.run.task, config.eval,
                                          self.run.data.catalogue))
    first_step = int(self.state["step"])
    self.progress = Progress(config.train.num_steps, first_step, config.train.log_every,
                             self.run.task.metrics.progress)
    self.board = TensorBoard(self.files.workdir, start_step=first_step)
    start = time.perf_counter()
    params, step, eval_seconds, stopped = self._steps(params, frozen, opt_state, run_eval)
    self.ckpt.wait()
    # Training speed of this process's steps, evaluation excluded (the first step includes compilation).
    train_seconds = time.perf_counter() - start - eval_seconds
    final_step = step
    if config.eval.final_from_best and self.ckpt.best_step() is not None:
      final_step = self.ckpt.best_step()
      best = self.ckpt.restore_best(self.state)
      check_frozen(best, self.frozen_sha)
      params = parallel.place(best["params"], self.shardings[0])
    final_start = time.perf_counter()
    final_metrics = run_eval(params, self.run.data.splits[config.eval.final_split])
    # The metric the run is judged by; other metrics may be NaN where undefined (one class in a slice).
    self.guard.check_metrics(final_step, final_metrics, [self.run.best_metric()[0]], self.ckpt.latest_step(),
                             config.eval.final_split)
    results = {"step": step, "evaluated_step": final_step, "split": config.eval.final_split,
               "metrics": final_metrics, "final_eval_seconds": time.perf_counter() - final_start,
               "training": self.training.describe(),
               "validation": self.files.metrics_at(final_step), "parameters": self.counts,
               "best_metric": list(self.run.best_metric()),
               "train_steps_per_s": (step - first_step) / train_seconds if step > first_step else None,
               "train_seconds": train_seconds, "eval_seconds": eval_seconds,
               "stopped_early": stopped,
               "devices": {"platform": self.mesh.devices.flat[0].platform, "mesh": dict(self.mesh.shape)}}
    for group, info in self.run.text_caches.items():
      results[f"{group}_cache"] = dataclasses.asdict(info)
    self.board.scalars(step, results["metrics"], f"{config.eval.final_split}/")
    return results

  def _resume(self) -> None:
    if self.ckpt.latest_step() is None:
      # A run stopped before its first checkpoint starts again: forget what it logged and kept after step 0.
      self.files.truncate_metrics(0)
      self.ckpt.forget_best_after(0)
      return
    self.state = self.ckpt.restore_latest(self.state)
    check_frozen(self.state, self.frozen_sha)
    step = int(self.state["step"])
    self.files.truncate_metrics(step)
    self.ckpt.forget_best_after(step)
    logging.info("resumed from step %d", step)

  def _steps(self, params, frozen, opt_state, run_eval):
    """The loop from the restored step to the last (or to an early stop): (params, last step, seconds spent
    evaluating, whether it stopped early)."""
    config, mesh = self.run.config, self.mesh
    train_step = make_train_step(self.train_graphdef, self.tx, self.run.task, mesh, self.run.task_options,
                                 embedding_l2=config.train.embedding_l2, shardings=self.shardings)
    metric, mode = self.run.best_metric()
    if self._should_stop(metric, mode):   # Resumed after the stop.
      return params, int(self.state["step"]), 0.0, True
    schedule = learning_rate_schedule(config.train)
    share = parallel.batch_share(mesh)   # The rows of each global batch this process feeds.
    val = self.run.data.splits[config.eval.split]
    step, num_steps, eval_seconds, stopped = int(self.state["step"]), config.train.num_steps, 0.0, False
    batches = step_batches(lambda s: self.training.batch(s, config.train.batch_size, config.seed, share), step,
                           num_steps, config.data.get("prefetch", 0))
    while step < num_steps and not stopped:
      batch = next(batches)
      params, opt_state, train_metrics = train_step(params, frozen, opt_state, parallel.shard_batch(batch, mesh),
                                                    step_key(config.seed, step))
      step += 1
      self.guard.record(step, train_metrics["loss"])
      self.state = {"params": params, "opt_state": opt_state, "step": np.asarray(step, np.int64),
                    "frozen_sha256": self.frozen_sha}
      if step % config.eval.every_steps == 0 or step == num_steps:
        self.guard.check(self.ckpt.latest_step())
        eval_start = time.perf_counter()
        metrics = run_eval(params, val)
        eval_seconds += time.perf_counter() - eval_start
        self.guard.check_metrics(step, metrics, [metric], self.ckpt.latest_step(), config.eval.split)
        self.files.append_metrics(step, {**metrics, **{f"train/{k}": float(v) for k, v in train_metrics.items()},
                                         "train/learning_rate": float(schedule(step - 1))})
        self.ckpt.save_best(step, self.state, metrics)
        self.board.scalars(step, metrics, "val/")
        self.progress.latest_eval = metrics
        stopped = self._should_stop(metric, mode)
        if stopped:
          logging.info("early stopping at step %d: %s has not improved for %d evaluations", step, metric,
                       self.stopping.patience)
      if step % config.train.log_every == 0:
        self.guard.check(self.ckpt.latest_step())   # The log line reads the loss anyway.
      if self.progress.step(step, train_metrics):
        self.board.scalars(step, {**train_metrics, "learning_rate": schedule(step - 1),
                                  "steps_per_s": self.progress.rate}, "train/")
      if step % config.checkpoint.every_steps == 0 or step == num_steps or stopped:
        self.guard.check(self.ckpt.latest_step())
        self.ckpt.save_latest(step, self.state, force=True)
    return params, step, eval_seconds, stopped

  def _should_stop(self, metric: str, mode: str) -> bool:
    """Early stopping by the validation log; with many processes, process 0's decision (it writes the log)."""
    return distributed.on_primary(lambda: should_stop(self.files.read_metrics(), metric, mode, self.stopping),
                                  "deciding on early stopping")

  def close(self) -> None:
    self.ckpt.wait()
    self.ckpt.close()
    for closing in (self.board, self.progress):
      if closing is not None:
        closing.close()
