"""The registry of whole models, keyed by `model.name`."""

from rec_jax.registry import Registry

MODELS: Registry = Registry("model")
