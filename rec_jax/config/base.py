"""The neutral base config every config file derives from: every section and every option, with its default.

The options of the modules come from their own dataclasses (rec_jax/options.py): the features (data/features.py),
the model section and its text tower (models/options.py, text/options.py), and the shared option sections of the
feature crosses, history encoders, models and tasks (the union of their options; a placeholder where entries'
defaults differ: the chosen entry's own default applies, and config.json records it). The training, evaluation,
checkpoint and parallel sections are read by train.py and its modules directly. A config file then points the base
at a dataset (config/datasets.py) and sets what its experiment changes.
"""

from __future__ import annotations

import json
from typing import Any, Dict

import ml_collections

from rec_jax.data.features import FeatureOptions
from rec_jax.early_stopping import EarlyStopping
from rec_jax.evaluation.full_ranking import RankingOptions
from rec_jax.experiment import CROSS_OPTIONS, HISTORY_OPTIONS, MODEL_OPTIONS, TASK_OPTIONS
from rec_jax.models.options import ModelOptions


def base_config(seed: int = 0) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = seed
  c.task = "ctr"   # rec_jax/tasks/<name>.py: ctr | search | rating | retrieval | next_item
  c.task_options = TASK_OPTIONS.defaults()

  c.data = ml_collections.ConfigDict()
  c.data.name = ""   # rec_jax/data/datasets/<name>.py; set by config/datasets.py
  c.data.path = ""   # a real dataset's official files (a directory or a file)
  c.data.data_dir = "~/tensorflow_datasets"
  # Training batches made ahead of their step by a background thread (rec_jax/data/prefetch.py); 0: in the loop.
  c.data.prefetch = 0

  c.features = ml_collections.ConfigDict(FeatureOptions.defaults())

  c.model = ml_collections.ConfigDict(ModelOptions.defaults())
  c.model.name = "hybrid"   # rec_jax/models/zoo/<name>.py
  c.model.cross_options = CROSS_OPTIONS.defaults()
  # Two cross layers (dcn, dcnv2, autoint): measured on the synthetic shop; the families' own default is 3 for dcn
  # and dcnv2, 2 for autoint.
  c.model.cross_options.num_layers = 2
  c.model.history_options = HISTORY_OPTIONS.defaults()
  # Sequence objectives append the target or a [mask] after the history: one position more than it has.
  c.model.history_options.max_length = c.features.get_ref("history_length") + 1
  c.model.cf_options = MODEL_OPTIONS.defaults()
  c.train, c.eval, c.checkpoint, c.parallel = _train(), _eval(), _checkpoint(), _parallel()
  return c


def _train() -> ml_collections.ConfigDict:
  """The optimizer and the schedule (rec_jax/optim.py)."""
  c = ml_collections.ConfigDict()
  c.num_steps = 1200
  c.batch_size = 1024
  c.learning_rate = 1e-2
  c.warmup_steps = 100
  c.final_lr_fraction = 0.05
  c.weight_decay = 1e-4
  c.embedding_decay = 0.0
  # L2 on the id-embedding rows each batch looks up, added to the loss (RecBole's EmbLoss, SGD matrix
  # factorisation's regulariser; rec_jax/models/id_embedding.py): the literature's embedding regularisation.
  c.embedding_l2 = 0.0
  # L2 of whole embedding tables, every row on every step, coupled (through Adam): FuxiCTR's and Keras' embedding
  # regulariser (rec_jax/optim.py). Every nnx.Embed table: a trained text tower's token embeddings too.
  c.embedding_table_l2 = 0.0
  # Per-parameter learning-rate multipliers, {regex on the parameter path: factor} (first match wins): the
  # random-init BERT is unstable at the full rate, and sparse id rows under Adam take full-size steps whenever
  # they appear, so they memorise (measured on the shop).
  c.lr_multipliers = {"^text/": 0.5, "^cf/(users|items)/": 0.1}
  # "" (dense AdamW over everything) or a row optimizer of the id tables (rec_jax/row_optimizers.py: lazy_adam,
  # adagrad, rowwise_adagrad): each step then costs the rows a batch touches, not the tables' size
  # (rec_jax/sparse_step.py); the other parameters keep AdamW.
  c.sparse_embeddings = ""
  c.beta1 = 0.9
  c.beta2 = 0.999
  c.grad_clip_norm = 1.0
  c.log_every = 100
  c.early_stopping = EarlyStopping.defaults()   # rec_jax/early_stopping.py (patience 0: off)
  return c


def _eval() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.every_steps = 300
  c.batch_size = 2048
  c.split = "validation"
  c.final_split = "test"
  c.ndcg_k = 10   # ndcg@K of pointwise tasks, within rank groups
  c.ks = (10, 50)   # the K of hit@K, recall@K, ndcg@K, mrr@K of ranking tasks
  c.ranking = RankingOptions.defaults()   # evaluation/full_ranking.py
  c.final_from_best = True   # the test metrics of the best validation checkpoint
  return c


def _checkpoint() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.every_steps = 300
  c.keep = 2
  c.keep_best = 1
  c.best_metric = ""   # empty: the task's (auc, rmse, ndcg@10: its MetricSpec.best)
  c.best_mode = ""     # empty: the metric's direction (min for logloss, rmse, mae; else max)
  return c


def _parallel() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.num_devices = -1
  # Devices on the mesh's model axis; id tables of at least shard_min_rows rows (and a multiple of model_axis) are
  # sharded by rows over them, the data axis has the rest (rec_jax/parallel.py).
  c.model_axis = 1
  c.shard_min_rows = 100_000
  # Id tables of at least shard_min_rows rows get zero rows appended up to a multiple of this, so any model axis
  # dividing it splits them evenly (rec_jax/models/id_embedding.py: same results as unpadded). It shapes the
  # parameters: unlike the other keys here, a resume cannot change it.
  c.table_row_multiple = 8
  # Library of XLA:CPU's matrix products (rec_jax/xla_cpu.py): "default" (YNNPACK) or "eigen", ~15-20 % faster
  # for BERT-sized products (text cache building, fine-tuning MiniLM); results differ in the last digits.
  c.cpu_dots = "default"
  return c


def _is_section(d: Dict[str, Any]) -> bool:
  """A config section (keys are option names), not a dict-valued option such as train.lr_multipliers (regexes)."""
  return all(isinstance(k, str) and k.isidentifier() for k in d)


def with_defaults(saved: Dict[str, Any]) -> Dict[str, Any]:
  """A run's saved config.json with every option it lacks (one added to rec_jax since the run was made) at the base
  config's default, which is what that run used. Values the file has are kept; a dict-valued option is kept whole."""
  def fill(node: Dict[str, Any], base: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(node)
    for key, default in base.items():
      if key not in out:
        out[key] = default
      elif isinstance(default, dict) and isinstance(out[key], dict) and _is_section(default) and default:
        out[key] = fill(out[key], default)
    return out
  return fill(saved, json.loads(base_config().to_json_best_effort()))
