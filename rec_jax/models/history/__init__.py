"""Behaviour-history encoders, keyed by `model.history`: [batch, length, dim] item vectors -> [batch, dim].

The module `rec_jax.models.history.<name>` defines `Options` (its options, read from `model.history_options`) and
`Encoder`, a class `Encoder(dim, options, *, rngs)`. Calling it as `encoder(items, mask, target=None)` maps items
[batch, length, dim], mask [batch, length] (True = real item) and the candidate item's embedding target
[batch, dim] to [batch, dim]. Histories are left-aligned: real items first, oldest first, then padding; an empty
history gives a finite vector. `Encoder.objective` names the self-supervised loss the encoder was designed for
(None, "causal" next-item or "masked" item prediction) and `Encoder.reads_target` whether it needs the candidate
(a user tower cannot give it); sequence encoders also expose `states(items, mask)` [batch, length, dim].
"""

from rec_jax.registry import ModuleRegistry

HISTORY = ModuleRegistry("history encoder", __name__, "Encoder")
