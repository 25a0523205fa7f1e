"""Feature crosses, keyed by `model.cross`: the module `rec_jax.models.crosses.<name>` defines `Options` (its
options, read from `model.cross_options`) and `build(num_fields, field_dim, options, *, rngs)`, which returns a
module mapping field embeddings [batch, fields, dim] to [batch, module.out_dim] with two attributes:
- `out_dim: int`, the width of its output (0 for `lr`, which has no interaction at all);
- `parallel_deep: bool`, True if the hybrid should run its own deep MLP in parallel beside the module (dcn, dcnv2
  "parallel", autoint, xdeepfm, deepfm, dnn), False if the module is the whole interaction part by itself (lr, fm,
  finalmlp with its own MLP streams, dcnv2 "stacked" which contains its deep net).
"""

from rec_jax.registry import ModuleRegistry

CROSSES = ModuleRegistry("feature cross", __name__, "build")
