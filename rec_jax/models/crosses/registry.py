"""The feature-cross registry, in its own module so cross modules can import it without a cycle."""

from __future__ import annotations

from rec_jax.registry import Registry

# Entries are builders `build(num_fields, field_dim, cfg, *, rngs) -> module` whose module
# maps [batch, fields, dim] to [batch, module.out_dim].
CROSSES = Registry("feature cross")
