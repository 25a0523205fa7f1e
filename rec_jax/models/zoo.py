"""Importing this module registers every model of `MODELS` (keyed by `model.name`)."""

from __future__ import annotations

# Each import runs that file's registration.
from rec_jax.models import hybrid  # noqa: F401  (the three-tower hybrid, with every feature cross)
from rec_jax.models.cf import mf  # noqa: F401
from rec_jax.models.cf import neumf  # noqa: F401
from rec_jax.models.cf import popularity  # noqa: F401
from rec_jax.models.cf import sequential  # noqa: F401
from rec_jax.models.cf import two_tower  # noqa: F401
