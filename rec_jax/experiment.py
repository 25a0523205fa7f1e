"""The one builder: a config becomes a run (task, prepared data, model, optimizer, checkpoints).

This is the only code that maps the config's strings to objects: the task (`task`), the dataset (`data.name`), the
model (`model.name`), its feature cross (`model.cross`) and history encoder (`model.history`), each a module found
by its path (rec_jax/registry.py), and their typed options (rec_jax/options.py). Model modules get plain
arguments: their options, the data's inputs and the components built here. train.py and rec_jax.analysis both
start from `build_experiment`.

Order: the config is resolved (the chosen entries' option defaults written in, `resolve_config`); the task checks
the features; the data is prepared (data/prepare.py); the text-input spec is declared from `model.text` before the
model is built (text/inputs.py); the model is built; what the spec caches is computed on the data side from the
model's frozen encoders (text/cache.py); the task's evaluation prepares what it needs (sampled negatives).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import typing
from typing import Any, Dict, Optional, Tuple

import ml_collections
from flax import nnx

from rec_jax import parallel
from rec_jax.checkpoint import Checkpointer, initial_state
from rec_jax.data.datasets import DATASETS
from rec_jax.data.features import FeatureOptions
from rec_jax.data.prepare import PreparedData, prepare_data
from rec_jax.data.streaming.prepare import check_streaming
from rec_jax.data.vocabulary_texts import vocabulary_texts
from rec_jax.errors import UserError
from rec_jax.models.crosses import CROSSES
from rec_jax.models.history import HISTORY
from rec_jax.models.id_embedding import padded_tables
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.models.zoo import MODELS
from rec_jax.optim import make_optimizer
from rec_jax.sparse_step import check_sparse_options, make_sparse_optimizer
from rec_jax.options import OptionGroup
from rec_jax.tasks import TASKS
from rec_jax.tasks.task import Task
from rec_jax.text.cache import CacheInfo, cache_texts
from rec_jax.text.inputs import TextInput, text_input
from rec_jax.text.modes import TEXT_MODES
from rec_jax.text.towers import build_text_tower

# The config sections shared by the entries of a registry.
CROSS_OPTIONS = OptionGroup("model.cross_options", CROSSES)
HISTORY_OPTIONS = OptionGroup("model.history_options", HISTORY)
MODEL_OPTIONS = OptionGroup("model.cf_options", MODELS)
TASK_OPTIONS = OptionGroup("task_options", TASKS)


def _section(parent, key: str):
  """A sub-section of a (possibly partial, e.g. a test's) config section; empty when absent."""
  return parent[key] if key in parent else {}


def resolve_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with the options of its chosen task, model, feature cross and history encoder written into
  their shared sections (an unset option: the entry's own default), so config.json records every value a run uses."""
  config = copy.deepcopy(config)
  features = FeatureOptions.from_config(config.features, where="features")
  TASK_OPTIONS.resolve(config.task, config.task_options)
  MODEL_OPTIONS.resolve(config.model.name, config.model.cf_options)
  if config.model.cross != "none":
    CROSS_OPTIONS.resolve(config.model.cross, config.model.cross_options)
  if config.model.history != "none":
    # Sequence objectives append the target or a [mask] after the last history item: one position more.
    HISTORY_OPTIONS.resolve(config.model.history, config.model.history_options,
                            {"max_length": features.history_length + 1})
  return config


def build_cross(name: str, num_fields: int, field_dim: int, section, *, rngs: nnx.Rngs) -> nnx.Module:
  """Feature cross `name` over [batch, num_fields, field_dim] with its options read from `section` (the shared
  `model.cross_options`)."""
  module = CROSSES.get(name)
  return module.build(num_fields, field_dim, CROSS_OPTIONS.options(name, section), rngs=rngs)


def history_encoder_class(name: str) -> type:
  return HISTORY.get(name).Encoder


def build_history_encoder(name: str, dim: int, section, *, rngs: nnx.Rngs, history_length: Optional[int] = None):
  """History encoder `name` of width `dim` with its options read from `section` (the shared
  `model.history_options`); an unset `max_length` is `history_length + 1` when that is given."""
  derived = {"max_length": history_length + 1} if history_length is not None else None
  return history_encoder_class(name)(dim, HISTORY_OPTIONS.options(name, section, derived), rngs=rngs)


def model_text_input(options: ModelOptions, features: FeatureOptions, vocab_sizes) -> Optional[TextInput]:
  """The text-input spec of `model.text` for the features' tokenizer, or None without a text tower."""
  if not options.use_text:
    return None
  if "text" not in vocab_sizes:
    raise UserError("model.use_text reads item texts, but the features have none: set features.text (the text "
                    "columns) or model.use_text=False")
  return text_input(options.text, features.tokenizer, features.text_max_length, vocab_sizes["text"])


def components(model_cfg, options: ModelOptions, features: FeatureOptions, vocab_sizes) -> Components:
  """The parts the model's config strings name: cross, history encoder, text tower (built lazily, in the model's
  own order, so parameters are initialised from the model's random stream; a model that reads no text never asks
  for a text tower)."""
  cross = history = history_class = text_tower = None
  if options.cross != "none":
    cross_section = _section(model_cfg, "cross_options")
    CROSS_OPTIONS.options(options.cross, cross_section)   # A bad name or option fails before the model is built.

    def make_cross(num_fields: int, dim: int, rngs: nnx.Rngs):
      return build_cross(options.cross, num_fields, dim, cross_section, rngs=rngs)
    cross = make_cross
  if options.history != "none":
    history_section = _section(model_cfg, "history_options")
    history_class = history_encoder_class(options.history)
    HISTORY_OPTIONS.options(options.history, history_section)

    def make_history(dim: int, rngs: nnx.Rngs):
      return build_history_encoder(options.history, dim, history_section, rngs=rngs,
                                   history_length=features.history_length)
    history = make_history
  if options.use_text:
    def make_text_tower(out_dim: int, rngs: nnx.Rngs):
      return build_text_tower(options.text, model_text_input(options, features, vocab_sizes), out_dim, rngs=rngs)
    text_tower = make_text_tower
  own = MODEL_OPTIONS.options(model_cfg.name, _section(model_cfg, "cf_options"))
  return Components(cross, history, history_class, text_tower, own)


def build_model(model_cfg, features: FeatureOptions, vocab_sizes: Dict[str, int], *, label_offset: float = 0.0,
                rngs: nnx.Rngs, table_padding: Optional[Tuple[int, int]] = None) -> nnx.Module:
  """The model `model.name` (the `model` section `model_cfg`) over data with these features and vocabularies, in
  evaluation mode (dropout off; the trainer takes the training view, train_step.py). `table_padding`: (multiple,
  min_rows) of the id tables' row padding (models/id_embedding.py's `padded_tables`; the `parallel` section's
  `table_row_multiple` and `shard_min_rows`), None: none."""
  module = MODELS.get(model_cfg.name)
  options = ModelOptions.from_model_section(model_cfg)
  parts = components(model_cfg, options, features, vocab_sizes)
  inputs = ModelInputs(vocab_sizes=vocab_sizes, categorical=tuple(features.categorical),
                       numeric=tuple(features.numeric), user_features=tuple(features.user_features),
                       item_features=tuple(features.item_features), has_query=bool(features.query),
                       label_offset=label_offset)
  with padded_tables(*(table_padding or (1, 0))):
    model = module.build(options, parts.own, inputs, parts, rngs=rngs)
  model.eval()
  return model


@dataclasses.dataclass
class Experiment:
  """A run built from its config: what training and rec_jax.analysis start from."""
  config: ml_collections.ConfigDict   # resolved
  workdir: str
  task: Task
  task_options: Any
  features: FeatureOptions
  data: PreparedData
  model: nnx.Module
  text_caches: Dict[str, CacheInfo]

  def training_rows(self):
    """What the training batches are drawn from (tasks/task.py's `Task.train_rows`)."""
    return self.task.train_rows(self.data.splits["train"], self.task_options, self.model)

  def optimizer(self):
    """AdamW over every parameter (rec_jax/optim.py), or with `train.sparse_embeddings` a SparseOptimizer: the id
    tables row by row, the rest AdamW (rec_jax/sparse_step.py)."""
    train = self.config.train
    if train.sparse_embeddings:
      return make_sparse_optimizer(train, self.model)
    return make_optimizer(train)

  def initial_state(self, params, frozen):
    """(optimizer, a fresh train state, the frozen weights' fingerprint)."""
    tx = self.optimizer()
    return (tx, *initial_state(tx, params, frozen))

  def best_metric(self):
    """(metric, mode) the best checkpoint is chosen by: `checkpoint.best_metric` (empty: the task's) and
    `checkpoint.best_mode` (empty: the metric's direction)."""
    c = self.config.checkpoint
    metric = c.best_metric or self.task.metrics.best
    return metric, c.best_mode or ("min" if self.task.metrics.lower_is_better(metric) else "max")

  def checkpointer(self, read_only: bool = False) -> Checkpointer:
    c = self.config.checkpoint
    return Checkpointer(self.workdir, c.every_steps, c.keep, c.keep_best, *self.best_metric(), read_only=read_only)


def preflight(config: ml_collections.ConfigDict) -> None:
  """The checks of `build_experiment` that need no data, run before the workdir is touched: every registry name
  of the (resolved) config (task, dataset, model, cross, history encoder, text mode) and every option of the chosen
  entries; and the data cache directory."""
  task = TASKS.get(config.task).TASK
  TASK_OPTIONS.options(config.task, config.task_options)
  features = FeatureOptions.from_config(config.features, where="features")
  task.check(config.task, features)
  dataset = DATASETS.get(config.data.name).DATASET
  if hasattr(dataset, "check"):
    dataset.check(config.data)
  options = ModelOptions.from_model_section(config.model)
  if options.use_text:
    TEXT_MODES.get(options.text.mode)
  model_class = typing.get_type_hints(MODELS.get(config.model.name).build).get("return")
  if isinstance(model_class, type):   # The methods the task needs, on the class `build` declares it returns.
    task.check_model(config.task, config.model.name, model_class)
  components(config.model, options, features, {})
  check_sparse_options(config.train)
  check_streaming(config)
  # The devices and the batches they split (train.py checks the batches again with the task's extra negatives).
  mesh = parallel.make_mesh(config.parallel.num_devices, config.parallel.get("model_axis", 1))
  for size in (config.train.batch_size, config.eval.batch_size):
    parallel.check_batch_size(size, mesh)
  data_dir = os.path.expanduser(config.data.data_dir)
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise UserError(f"data.data_dir={config.data.data_dir!r} is a file, not a directory")


def build_experiment(config: ml_collections.ConfigDict, workdir: str, *, write_report: bool = True) -> Experiment:
  """The run of `config` in `workdir`. `write_report=False` (rec_jax.analysis reading a finished run) leaves the
  workdir's data report alone and needs the feature processor the run fitted."""
  config = resolve_config(config)
  task = TASKS.get(config.task).TASK
  task_options = TASK_OPTIONS.options(config.task, config.task_options)
  features = FeatureOptions.from_config(config.features, where="features")
  task.check(config.task, features)
  data = prepare_data(DATASETS.get(config.data.name).DATASET, config.data, features, workdir,
                      required_splits=("train", config.eval.split, config.eval.final_split), write_report=write_report)
  task.check_labels(config.task, features.label, data.splits["train"])
  vocab_sizes = data.vocab_sizes()
  label_offset = data.processor.label_mean if task.centre_labels else 0.0
  padding = (config.parallel.get("table_row_multiple", 1), config.parallel.get("shard_min_rows", 0))
  model = build_model(config.model, features, vocab_sizes, label_offset=label_offset, rngs=nnx.Rngs(config.seed),
                      table_padding=padding)
  task.check_model(config.task, config.model.name, model)
  model_options = ModelOptions.from_model_section(config.model)
  caches = {}
  # The frozen blocks' output of every text, computed once on the data side with the model's own encoders.
  text = model_text_input(model_options, features, vocab_sizes) if hasattr(model, "text_encoders") else None
  if text is not None and text.cached_blocks:
    splits, caches = cache_texts(text, model_options.text, workdir, {**data.splits, "catalogue": data.catalogue},
                                 model.text_encoders(), config.seed)
    data.catalogue = splits.pop("catalogue")
    data.splits = splits
  if getattr(model, "text", None) is not None and hasattr(model, "attach_item_texts"):
    # A model scoring the whole vocabulary with text (models/zoo/sequential.py) holds each id's text, as cached.
    texts = vocabulary_texts(data.splits["train"], vocab_sizes["item_id"])
    if texts is None:
      raise UserError(f"model.name={config.model.name} with model.use_text needs the train split's item texts")
    model.attach_item_texts(*texts)
  task.evaluation.prepare(config.eval, workdir, data)
  return Experiment(config, workdir, task, task_options, features, data, model, caches)
