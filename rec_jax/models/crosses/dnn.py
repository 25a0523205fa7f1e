"""`dnn`: no explicit cross; the hybrid's deep MLP over the concatenated fields is the whole interaction part (the
DNN baseline of the CTR literature, and the top of DIN and YouTube-DNN)."""

from __future__ import annotations

from flax import nnx

from rec_jax.models.crosses.lr import NoInteraction
from rec_jax.options import NoOptions as Options


class DeepOnly(NoInteraction):
  """A zero-width cross that asks the hybrid for its deep MLP beside it."""

  parallel_deep = True


def build(num_fields: int, field_dim: int, options: Options, *, rngs: nnx.Rngs) -> DeepOnly:
  del num_fields, field_dim, options, rngs
  return DeepOnly()
