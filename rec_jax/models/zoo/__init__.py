"""The model zoo, keyed by `model.name`: the module `rec_jax.models.zoo.<name>` defines `Options` (its options, read
from `model.cf_options`) and `build(model_options, own_options, inputs, components, *, rngs)` (rec_jax/models/
options.py). Pointwise models are `model(batch) -> [batch]`; ranking models add `query_vectors(batch)` and
`candidate_vectors(batch)` ([batch, dim] each) and the sequence objective `next_item_targets`, `item_table`."""

from rec_jax.registry import ModuleRegistry

MODELS = ModuleRegistry("model", __name__, "build")
