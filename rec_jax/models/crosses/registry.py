"""The feature-cross registry, in its own module so cross modules can import it without a cycle."""

from __future__ import annotations

from rec_jax.registry import Registry

# Entries are builders `build(num_fields, field_dim, cfg, *, rngs) -> module`; `cfg` is the config section
# `model.cross_options` (possibly empty), read with `cfg.get(key, default)`. The module maps [batch, fields, dim]
# to [batch, module.out_dim] and has two attributes:
# - `out_dim: int`, the width of its output (0 for `lr`, which has no interaction at all);
# - `parallel_deep: bool`, True if the hybrid should run its own deep MLP in parallel beside the module (dcn,
#   dcnv2 "parallel", autoint, xdeepfm, deepfm), False if the module is the whole interaction part by itself
#   (lr, fm, finalmlp with its own MLP streams, dcnv2 "stacked" which contains its deep net).
CROSSES = Registry("feature cross")
