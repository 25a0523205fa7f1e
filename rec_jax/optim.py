"""The optimizer: AdamW with linear warm-up + cosine decay and global-norm gradient clipping."""

from __future__ import annotations

import re
from typing import List, Mapping, Sequence

import jax
import optax
from absl import logging

from rec_jax.errors import UserError


def learning_rate_schedule(train_cfg) -> optax.Schedule:
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=train_cfg.learning_rate, warmup_steps=train_cfg.warmup_steps,
      decay_steps=max(train_cfg.num_steps, train_cfg.warmup_steps + 1),
      end_value=train_cfg.learning_rate * train_cfg.final_lr_fraction)


def _leaf_named(name: str):
  """A mask function: True for parameters whose path contains `name` (e.g. "kernel", "embedding")."""
  return lambda params: jax.tree_util.tree_map_with_path(
      lambda path, _: any(getattr(k, "key", None) == name for k in path), params)


def _path_str(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


class LrFactors:
  """A parameter's path name ("cf/users/embedding") -> its `train.lr_multipliers` factor: the value of the first
  regular expression key that matches it, 1 when none does."""

  def __init__(self, multipliers: Mapping[str, float]):
    self.patterns = []
    for key, value in multipliers.items():
      try:
        self.patterns.append((re.compile(key), float(value)))
      except (re.error, TypeError, ValueError) as e:
        raise UserError(f"train.lr_multipliers[{key!r}] = {value!r}: needs a regular expression and a number ({e})")

  def __call__(self, name: str) -> float:
    return next((v for p, v in self.patterns if p.search(name)), 1.0)

  def unused(self, names: Sequence[str]) -> List[str]:
    return [p.pattern for p, _ in self.patterns if not any(p.search(n) for n in names)]


def scale_by_path(multipliers: Mapping[str, float], elsewhere: Sequence[str] = ()) -> optax.GradientTransformation:
  """Multiplies the update of every parameter whose path ("cf/users/embedding", "text/bert/...") matches a
  regular expression key of `multipliers` (first match wins) by its value; other parameters are unchanged.
  `elsewhere`: path names of parameters another optimizer updates (sparse tables), which patterns may match.

  Used for per-tower learning rates, e.g. {"^cf/": 0.1} for sparse id tables or {"^text/": 0.1} for BERT.
  """
  lookup = LrFactors(multipliers)

  def factor(path) -> float:
    return lookup(_path_str(path))

  def init_fn(params):
    names = [_path_str(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    unused = lookup.unused(names + list(elsewhere))
    if unused:  # A warning, not an error: ablations switch towers off under the same multipliers.
      logging.warning("train.lr_multipliers: %s match no parameter path (paths look like %s, ...)", unused,
                      ", ".join(names[:3]))
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(lambda path, u: u * factor(path), updates), state

  return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(train_cfg, *, clip: bool = True, elsewhere: Sequence[str] = ()) -> optax.GradientTransformation:
  """AdamW with decoupled weight decay `weight_decay` on dense kernels and `embedding_decay` on embedding tables
  (id tables overfit first in CTR models); biases and LayerNorm scales are not decayed.

  `embedding_table_l2` is the coupled L2 of whole embedding tables: its gradient, `embedding_table_l2 * w` for every
  row of every table on every step, joins the loss's gradient before clipping and Adam's normalisation, exactly as
  (embedding_table_l2 / 2) * ||table||^2 added to the loss would (FuxiCTR's `embedding_regularizer`, Keras'
  `embeddings_regularizer`). Under Adam a row the batch does not use then moves towards 0 by about the learning
  rate per step, so rare ids stay near 0 unless the data pull them away: a strong prior for sparse ids, unlike
  `embedding_l2` (only the rows a batch looks up) and `embedding_decay` (decoupled, a shrink of lr * decay).

  `clip=False`, `elsewhere` (names of parameters updated by another optimizer): the dense part of a sparse run
  (rec_jax/sparse_step.py), which clips all gradients itself; the state's structure is the same."""
  table_l2 = train_cfg.get("embedding_table_l2", 0.0)   # (config.json of runs older than the option lacks it)
  if not table_l2 >= 0:
    raise UserError(f"train.embedding_table_l2={table_l2}: must be >= 0")
  coupled = [optax.add_decayed_weights(table_l2, mask=_leaf_named("embedding"))] if table_l2 else []
  return optax.chain(
      *coupled,   # (absent at 0, so the optimizer state of runs without it keeps its structure)
      optax.clip_by_global_norm(train_cfg.grad_clip_norm) if clip else optax.identity(),
      optax.scale_by_adam(b1=train_cfg.beta1, b2=train_cfg.beta2),
      optax.add_decayed_weights(train_cfg.weight_decay, mask=_leaf_named("kernel")),
      optax.add_decayed_weights(train_cfg.embedding_decay, mask=_leaf_named("embedding")),
      scale_by_path(dict(train_cfg.lr_multipliers), elsewhere),
      optax.scale_by_learning_rate(learning_rate_schedule(train_cfg)))
