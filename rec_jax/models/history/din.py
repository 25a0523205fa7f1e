"""DIN (Zhou et al., KDD 2018): the history is pooled with weights that depend on the candidate item (target
attention), so one user gets a different interest vector for each candidate.

As in the paper, the weights are not softmax-normalised by default: their sum keeps the intensity of the user's
interest in the candidate. `din_softmax=True` normalises them over the real history items instead. `dropout`:
dropout after each hidden layer of the attention unit, in training only (models/dropout.py; the knob of DeepCTR's
`LocalActivationUnit`), 0 by default as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.errors import UserError
from rec_jax.models.attention import masked_softmax
from rec_jax.models.dropout import apply_dropout, dropout


class PReLU(nnx.Module):
  """max(x, 0) + slope * min(x, 0) with a learned slope per unit (He et al., 2015), initialised to 0.25."""

  def __init__(self, width: int):
    self.slope = nnx.Param(jnp.full((width,), 0.25, jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    """x [..., width] -> [..., width]."""
    return jnp.maximum(x, 0) + self.slope[...] * jnp.minimum(x, 0)


class AttentionUnit(nnx.Module):
  """score_j = Linear(PReLU(Linear(... PReLU(Linear([h_j, t, h_j - t, h_j * t]))))) -> one scalar, no sigmoid."""

  def __init__(self, dim: int, hidden: Sequence[int], *, rngs: nnx.Rngs, dropout_rate: float = 0.0):
    widths = [4 * dim, *hidden]
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
    self.activations = nnx.List([PReLU(width) for width in hidden])
    self.dropouts = nnx.List([dropout(dropout_rate) for _ in hidden])
    self.score = nnx.Linear(widths[-1], 1, rngs=rngs)

  def __call__(self, items: jax.Array, target: jax.Array) -> jax.Array:
    """items h [batch, length, dim], target t [batch, dim] -> scores [batch, length]."""
    t = jnp.broadcast_to(target[:, None, :], items.shape)
    x = jnp.concatenate([items, t, items - t, items * t], axis=-1)
    for layer, activation, drop in zip(self.layers, self.activations, self.dropouts):
      x = apply_dropout(drop, activation(layer(x)))
    return self.score(x)[..., 0]


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  attention_mlp: Tuple[int, ...] = (80, 40)   # hidden widths of the attention unit
  din_softmax: bool = False                   # normalise the weights over the real history items
  dropout: float = 0.0                        # after each hidden layer of the attention unit, in training only


def _attention_mlp(opts: Options) -> tuple:
  hidden = opts.attention_mlp
  if isinstance(hidden, int) or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in hidden):
    raise UserError(f"history option 'attention_mlp' must be a sequence of positive layer widths, got {hidden!r}")
  return tuple(hidden)


class DIN(nnx.Module):
  """Output = sum_j w_j h_j over real history items, w_j = AttentionUnit(h_j, t) (or its masked softmax)."""

  objective = None
  reads_target = True

  def __init__(self, dim: int, opts: Options = Options(), *, rngs: nnx.Rngs):
    self.unit = AttentionUnit(dim, _attention_mlp(opts), rngs=rngs, dropout_rate=opts.dropout)
    self.softmax = opts.din_softmax
    if not isinstance(self.softmax, bool):
      raise UserError(f"history option 'din_softmax' must be True or False, got {self.softmax!r}")

  def attention_weights(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array]) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool, target [batch, dim] -> w [batch, length]
    (0 at padding positions)."""
    if target is None:
      raise UserError("history encoder 'din' attends from the candidate item: pass target [batch, dim]")
    real = mask.astype(bool)
    scores = self.unit(items, target)
    if self.softmax:
      return masked_softmax(scores, real)
    return jnp.where(real, scores, 0.0)

  def __call__(self, items: jax.Array, mask: jax.Array, target: Optional[jax.Array] = None) -> jax.Array:
    """items [batch, length, dim], mask [batch, length] bool, target [batch, dim] -> [batch, dim]."""
    return jnp.einsum("bl,bld->bd", self.attention_weights(items, mask, target), items)


Encoder = DIN
