"""`dnn`: no explicit cross; the hybrid's deep MLP over the concatenated fields is the whole interaction part (the
DNN baseline of the CTR literature, and the top of DIN and YouTube-DNN)."""

from __future__ import annotations

from typing import Any

from flax import nnx

from rec_jax.models.crosses.lr import NoInteraction
from rec_jax.models.crosses.registry import CROSSES


class DeepOnly(NoInteraction):
  """A zero-width cross that asks the hybrid for its deep MLP beside it."""

  parallel_deep = True


@CROSSES.register("dnn")
def build_dnn(num_fields: int, field_dim: int, cfg: Any, *, rngs: nnx.Rngs) -> DeepOnly:
  del num_fields, field_dim, cfg, rngs
  return DeepOnly()
