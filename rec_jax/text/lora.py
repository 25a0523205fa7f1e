"""LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a frozen dense layer plus a
trainable low-rank update, y = x W + b + (alpha / r) x A B.

A [in, r] starts uniform in ±1/sqrt(in) and B [r, out] at zero (as in the paper and Hugging Face PEFT), so a freshly
adapted model computes exactly what the pretrained one did. Only A and B are `nnx.Param`s; the wrapped layer's
kernel and bias are `Frozen`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.text.frozen import freeze


class LoRALinear(nnx.Module):
  """Wraps an `nnx.Linear` (frozen in place) with a rank-`rank` trainable update scaled by alpha / rank."""

  def __init__(self, base: nnx.Linear, rank: int, alpha: float, *, rngs: nnx.Rngs):
    if rank < 1:
      raise UserError(f"LoRA rank must be >= 1, got {rank}")
    self.base = freeze(base)
    bound = 1.0 / math.sqrt(base.in_features)
    self.lora_a = nnx.Param(jax.random.uniform(rngs.params(), (base.in_features, rank), jnp.float32, -bound, bound))
    self.lora_b = nnx.Param(jnp.zeros((rank, base.out_features), jnp.float32))
    self.scale = alpha / rank
    self.in_features, self.out_features = base.in_features, base.out_features

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [..., in] to [..., out] in the base layer's compute dtype."""
    dtype = self.base.dtype or x.dtype
    update = (x.astype(dtype) @ self.lora_a[...].astype(dtype)) @ self.lora_b[...].astype(dtype)
    return self.base(x) + update * jnp.asarray(self.scale, dtype)

  def merged(self) -> nnx.Linear:
    """A plain `nnx.Linear` computing the same function (W + (alpha / r) A B), e.g. for serving."""
    out = nnx.clone(self.base)
    out.kernel = nnx.Param(self.base.kernel[...] + self.scale * self.lora_a[...] @ self.lora_b[...])
    if out.bias is not None:
      out.bias = nnx.Param(self.base.bias[...])
    return out


def merge_lora(module: nnx.Module) -> nnx.Module:
  """Replaces every `LoRALinear` inside `module` by its merged `nnx.Linear`, in place; returns `module`."""
  for _, sub in list(nnx.iter_modules(module)):
    for name, value in list(vars(sub).items()):
      if isinstance(value, LoRALinear):
        setattr(sub, name, value.merged())
  return module
