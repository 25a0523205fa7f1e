"""DeepFM (Guo et al., 2017): the FM of crosses/fm.py with the hybrid's deep MLP run beside it on the shared
embeddings."""

from __future__ import annotations

from flax import nnx

from rec_jax.models.crosses.fm import FactorizationMachine
from rec_jax.options import NoOptions as Options


def build(num_fields: int, field_dim: int, options: Options, *, rngs: nnx.Rngs) -> FactorizationMachine:
  """DeepFM's FM part: no options or parameters, so all arguments are ignored."""
  del num_fields, field_dim, options, rngs
  return FactorizationMachine(parallel_deep=True)
