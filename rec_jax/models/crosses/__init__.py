"""Feature-cross modules; importing this package registers every cross in `CROSSES`."""

from __future__ import annotations

from rec_jax.models.crosses import dcn_v2  # noqa: F401  (import runs the registration)
from rec_jax.models.crosses import fm  # noqa: F401  (import runs the registration)
from rec_jax.models.crosses.registry import CROSSES

__all__ = ["CROSSES"]
