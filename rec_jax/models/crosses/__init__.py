"""Feature-cross modules; importing this package registers every cross in `CROSSES`."""

from __future__ import annotations

# Each import runs that file's registrations.
from rec_jax.models.crosses import autoint  # noqa: F401
from rec_jax.models.crosses import cin  # noqa: F401
from rec_jax.models.crosses import dcn  # noqa: F401
from rec_jax.models.crosses import dcn_v2  # noqa: F401
from rec_jax.models.crosses import dnn  # noqa: F401
from rec_jax.models.crosses import finalmlp  # noqa: F401
from rec_jax.models.crosses import fm  # noqa: F401
from rec_jax.models.crosses import lr  # noqa: F401
from rec_jax.models.crosses.registry import CROSSES

__all__ = ["CROSSES"]
