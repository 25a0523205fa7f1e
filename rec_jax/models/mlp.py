"""A plain multi-layer perceptron used as the deep tower and as prediction heads."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
from flax import nnx

from rec_jax.models.dropout import apply_dropout, dropout


class MLP(nnx.Module):
  """Stack of Linear layers, each followed by `activation` (optionally not the last).

  An empty `hidden` is the identity, so configs can switch the deep part off without a
  special case at the call site. `dropout_rate`: dropout after every activation, in training.
  """

  def __init__(
      self,
      in_dim: int,
      hidden: Sequence[int],
      *,
      rngs: nnx.Rngs,
      activation: Callable[[jax.Array], jax.Array] = nnx.relu,
      activate_last: bool = True,
      dropout_rate: float = 0.0,
  ):
    dims = [in_dim, *hidden]
    self.layers = nnx.List(
        [nnx.Linear(d_in, d_out, rngs=rngs) for d_in, d_out in zip(dims[:-1], dims[1:])])
    self.activation = activation
    self.activate_last = activate_last
    self.out_dim = dims[-1]
    self.dropouts = nnx.List([dropout(dropout_rate) for _ in self.layers])

  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps x [batch, in_dim] to [batch, out_dim]."""
    last = len(self.layers) - 1
    for i, layer in enumerate(self.layers):
      x = layer(x)
      if i < last or self.activate_last:
        x = apply_dropout(self.dropouts[i], self.activation(x))
    return x
