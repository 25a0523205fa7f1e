"""The optimizer: AdamW with linear warm-up + cosine decay and global-norm gradient clipping."""

from __future__ import annotations

import jax
import optax


def learning_rate_schedule(train_cfg) -> optax.Schedule:
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=train_cfg.learning_rate, warmup_steps=train_cfg.warmup_steps,
      decay_steps=max(train_cfg.num_steps, train_cfg.warmup_steps + 1),
      end_value=train_cfg.learning_rate * train_cfg.final_lr_fraction)


def _decay_mask(params):
  """Weight decay on dense kernels only: not on biases, LayerNorm scales or embedding tables."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: any(getattr(k, "key", None) == "kernel" for k in path), params)


def make_optimizer(train_cfg) -> optax.GradientTransformation:
  return optax.chain(
      optax.clip_by_global_norm(train_cfg.grad_clip_norm),
      optax.adamw(learning_rate_schedule(train_cfg), b1=train_cfg.beta1, b2=train_cfg.beta2,
                  weight_decay=train_cfg.weight_decay, mask=_decay_mask))
