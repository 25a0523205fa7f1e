"""Field embeddings: every categorical and numeric feature becomes one field vector for the cross layers."""

from __future__ import annotations

from typing import Dict, Sequence

import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import Batch
from rec_jax.models.id_embedding import IdEmbed


class FieldEmbedding(nnx.Module):
  """batch -> [batch, fields, dim]: one table per categorical feature, one learned vector per numeric feature
  scaled by its (standardised) value."""

  def __init__(self, vocab_sizes: Dict[str, int], numeric: Sequence[str], dim: int, *, init_std: float = 0.05,
               rngs: nnx.Rngs):
    init = nnx.initializers.normal(stddev=init_std)
    self.categorical = tuple(sorted(vocab_sizes))
    self.numeric = tuple(numeric)
    self.tables = nnx.Dict({name: IdEmbed(vocab_sizes[name], dim, embedding_init=init, rngs=rngs)
                            for name in self.categorical})
    self.numeric_vectors = nnx.Param(init(rngs.params(), (max(len(self.numeric), 1), dim)))
    self.num_fields = len(self.categorical) + len(self.numeric)

  def __call__(self, batch: Batch) -> jnp.ndarray:
    fields = [self.tables[name](batch.categorical[name]) for name in self.categorical]
    fields += [batch.numeric[name][:, None] * self.numeric_vectors[k] for k, name in enumerate(self.numeric)]
    return jnp.stack(fields, axis=1)
