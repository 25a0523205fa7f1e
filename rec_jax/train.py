"""train_and_evaluate(config, workdir): prepare data, build the model, run the jitted training loop with periodic
evaluation and Orbax checkpoints, resume from the workdir, and write the final test metrics to results.json."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Optional

import numpy as np
from absl import logging
from flax import nnx

from rec_jax import parallel
from rec_jax.checkpoint import Checkpointer
from rec_jax.cross_validation import is_cross_validation, run_folds
from rec_jax.data.pipeline import train_batch
from rec_jax.data.prepare import prepare_data
from rec_jax.data.retrieval_rows import clicked_rows, negative_batch, negative_pool
from rec_jax.evaluation.protocols import EvalContext, make_evaluator
from rec_jax.models import zoo  # noqa: F401  (registers every model)
from rec_jax.text.frozen import count_parameters, fingerprint
from rec_jax.models.registry import MODELS
from rec_jax.text.modes import cached_blocks
from rec_jax.models.tasks import TASKS
from rec_jax.optim import learning_rate_schedule, make_optimizer
from rec_jax.progress import Progress
from rec_jax.workdir import RunFiles
from rec_jax.tensorboard_writer import TensorBoard
from rec_jax.text.cache import attach_text_cache
from rec_jax.train_step import device_inputs, make_train_step, step_key
from rec_jax.xla_cpu import select_cpu_dots


def check_frozen(restored, frozen_sha: np.ndarray) -> None:
  """A checkpoint holds only trainable parameters; the frozen ones are rebuilt from the config, so they must be
  the very weights the checkpoint was trained with."""
  if not np.array_equal(np.asarray(restored["frozen_sha256"]), frozen_sha):
    raise ValueError("the frozen weights built from this config (e.g. model.text.pretrained's checkpoint) differ "
                     "from those this run's checkpoints were trained with: restore the original checkpoint files "
                     "or start a new workdir")


def build_model(config, vocab_sizes, label_offset: float = 0.0):
  """`label_offset` is added to every pointwise output (the train mean rating of the rating task, else 0)."""
  return MODELS.get(config.model.name)(config.model, config.features, vocab_sizes, label_offset=label_offset,
                                       rngs=nnx.Rngs(config.seed))


def _train_arrays(task, config, train):
  """The rows the task learns from and, for retrieval with extra negatives, the pool they are drawn from."""
  if not task.train_on_positives:
    return train, None
  train = clicked_rows(train)
  num = config.task_options.get("num_negatives", 0)
  return train, (negative_pool(train) if task.negative_rows and num else None)


def prepare_run(config, workdir: str, *, write_report: bool = True):
  """(task, prepared data, model, text caches) of a run: what training and rec_jax.analysis both start from. With a
  frozen text tower, the frozen blocks' output is computed once with the model's own encoders (rec_jax/text/cache.py)
  and attached to every split and the catalogue."""
  task = TASKS.get(config.task)
  task.check(config)
  data = prepare_data(config, workdir, write_report=write_report)
  vocab_sizes = data.processor.vocab_sizes()
  model = build_model(config, vocab_sizes, data.processor.label_mean if task.centre_labels else 0.0)
  task.check_model(config, model)
  text_cache = {}
  if config.model.use_text and cached_blocks(config.model.text, config.features, vocab_sizes["text"]):
    data.splits, text_cache = attach_text_cache(config, workdir, {**data.splits, "catalogue": data.catalogue},
                                                vocab_sizes["text"], model.text_encoders())
    data.catalogue = data.splits.pop("catalogue")
  return task, data, model, text_cache


def initial_state(config, params, frozen):
  """(optimizer, a fresh train state, the frozen weights' fingerprint): the pytree checkpoints save and restore."""
  tx = make_optimizer(config.train)
  frozen_sha = np.frombuffer(bytes.fromhex(fingerprint(frozen)), np.uint8)
  state = {"params": params, "opt_state": tx.init(params), "step": np.asarray(0, np.int64),
           "frozen_sha256": frozen_sha}
  return tx, state, frozen_sha


def checkpointer(config, workdir: str) -> Checkpointer:
  c = config.checkpoint
  return Checkpointer(workdir, c.every_steps, c.keep, c.keep_best, c.best_metric, c.best_mode)


def train_and_evaluate(config, workdir: str, *, stop_after_step: Optional[int] = None) -> Optional[dict]:
  """Runs (or resumes, or just reports) the experiment in `workdir`; returns the final results.

  `stop_after_step` simulates a preemption: the loop stops once a checkpoint at or after that step is written.
  With `data.split.folds`, one run per fold (rec_jax/cross_validation.py).
  """
  if is_cross_validation(config):
    return run_folds(config, workdir, functools.partial(train_and_evaluate, stop_after_step=stop_after_step))
  files = RunFiles(workdir)
  files.write_or_check_config(config)
  if files.finished():
    logging.info("%s already holds a finished run; not retraining", workdir)
    return files.read_results()
  t_start = time.perf_counter()
  # A no-op when rec_jax.main already chose it; a named error if JAX started before it could be chosen.
  select_cpu_dots(config.parallel.get("cpu_dots", "default"))
  task, data, model, text_cache = prepare_run(config, workdir)
  train, val, test = (data.splits[s] for s in ("train", config.eval.split, config.eval.final_split))
  train, negatives = _train_arrays(task, config, train)
  mesh = parallel.make_mesh(config.parallel.num_devices)
  sizes = [config.train.batch_size, config.eval.batch_size]
  sizes += [config.task_options.num_negatives] if negatives is not None else []   # Extra negatives shard too.
  for size in sizes:
    parallel.check_batch_size(size, mesh)
  shards = parallel.local_data_shards(mesh)
  # Trainable nnx.Params vs everything else (frozen BERT weights); only the former are differentiated and saved.
  graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
  counts = {"trainable": count_parameters(params), "frozen": count_parameters(frozen)}
  logging.info("model: %d trainable parameters, %d frozen; mesh %s", counts["trainable"], counts["frozen"],
               dict(mesh.shape))
  tx, state, frozen_sha = initial_state(config, params, frozen)
  ckpt = checkpointer(config, workdir)
  if ckpt.latest_step() is not None:
    state = ckpt.restore_latest(state)
    check_frozen(state, frozen_sha)
    files.truncate_metrics(int(state["step"]))
    ckpt.forget_best_after(int(state["step"]))
    logging.info("resumed from step %d", int(state["step"]))
  params, frozen, opt_state = parallel.replicate((state["params"], frozen, state["opt_state"]), mesh)
  train_step = make_train_step(graphdef, tx, task, mesh, config.task_options)
  run_eval = make_evaluator(EvalContext(graphdef, frozen, mesh, task, config.eval, data.catalogue))
  schedule = learning_rate_schedule(config.train)
  step, num_steps = int(state["step"]), config.train.num_steps
  progress = Progress(num_steps, step, config.train.log_every)
  board = TensorBoard(workdir, start_step=step)
  first_step, loop_start, eval_seconds = step, time.perf_counter(), 0.0
  while step < num_steps:
    batch = train_batch(train, step, config.train.batch_size, config.seed, shards)
    if negatives is not None:
      batch.update(negative_batch(negatives, step, config.task_options.num_negatives, config.seed, shards))
    params, opt_state, train_metrics = train_step(params, frozen, opt_state,
                                                  parallel.shard_batch(device_inputs(batch), mesh),
                                                  step_key(config.seed, step))
    step += 1
    state = {"params": params, "opt_state": opt_state, "step": np.asarray(step, np.int64), "frozen_sha256": frozen_sha}
    if step % config.eval.every_steps == 0 or step == num_steps:
      eval_start = time.perf_counter()
      metrics = run_eval(params, val)
      eval_seconds += time.perf_counter() - eval_start
      files.append_metrics(step, {**metrics, **{f"train/{k}": float(v) for k, v in train_metrics.items()},
                                  "train/learning_rate": float(schedule(step - 1))})
      ckpt.save_best(step, state, metrics)
      board.scalars(step, metrics, "val/")
      progress.latest_eval = metrics
    if progress.step(step, train_metrics):
      board.scalars(step, {**train_metrics, "learning_rate": schedule(step - 1), "steps_per_s": progress.rate},
                    "train/")
    saved = False
    if step % config.checkpoint.every_steps == 0 or step == num_steps:
      saved = ckpt.save_latest(step, state, force=True)
    if stop_after_step is not None and step >= stop_after_step and saved:
      ckpt.wait()
      ckpt.close()
      board.close()
      progress.close()
      logging.info("stopping after the checkpoint at step %d (stop_after_step)", step)
      return None
  ckpt.wait()
  progress.close()
  # Training speed of this process's steps, evaluation excluded (the first step includes compilation).
  train_seconds = time.perf_counter() - loop_start - eval_seconds
  final_step = step
  if config.eval.final_from_best and ckpt.best_step() is not None:
    final_step = ckpt.best_step()
    best = ckpt.restore_best(state)
    check_frozen(best, frozen_sha)
    params = parallel.replicate(best["params"], mesh)
  results = {"step": step, "evaluated_step": final_step, "split": config.eval.final_split,
             "metrics": run_eval(params, test), "wall_time_s": time.perf_counter() - t_start,
             "validation": files.metrics_at(final_step), "parameters": counts,
             "train_steps_per_s": (step - first_step) / train_seconds if step > first_step else None,
             "devices": {"platform": mesh.devices.flat[0].platform, "mesh": dict(mesh.shape)}}
  for group, info in text_cache.items():
    results[f"{group}_cache"] = dataclasses.asdict(info)
  ckpt.close()
  board.scalars(step, results["metrics"], f"{config.eval.final_split}/")
  board.close()
  files.write_results(results)
  m = results["metrics"]
  logging.info("final %s at step %d: %s", config.eval.final_split, final_step,
               " ".join(f"{k}={m[k]:.4f}" for k in ("auc", "oracle_auc", "auc/warm", "auc/cold", "logloss", "rmse",
                                                       "mae", "hit@10", "ndcg@10", "ndcg@10/cold") if k in m))
  return results
