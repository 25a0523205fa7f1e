"""Collaborative-filtering tower: id embeddings and behaviour-history encoders."""

from __future__ import annotations

# Each import runs that file's registration in `HISTORY` (the registry itself lives in history.py, with "mean").
from rec_jax.models.cf import bert4rec  # noqa: F401
from rec_jax.models.cf import din  # noqa: F401
from rec_jax.models.cf import sasrec  # noqa: F401
from rec_jax.models.cf.history import HISTORY

__all__ = ["HISTORY", "bert4rec", "din", "sasrec"]
