"""Column kinds of a parsed dataset: what each stored column means, how TFDS stores it and which governance rule
checks it. A format declares its columns as {name: kind}; everything downstream (storage, schema) follows."""

from __future__ import annotations

from typing import Dict

import numpy as np

from rec_jax.data.governance import FieldRule
from rec_jax.errors import UserError

# kind -> numpy dtype of the stored values (lists are stored flat with per-row lengths). "hex": a category written
# as 1-8 hexadecimal digits (Criteo hashes every category to 8), stored as its value; -1 when missing.
STORAGE = {"id": np.object_, "category": np.object_, "hex": np.int64, "text": np.object_, "integer": np.int64,
           "number": np.float32, "label": np.int64, "id_list": np.object_, "split": np.object_}
KINDS = tuple(STORAGE)


def check_columns(columns: Dict[str, str]) -> None:
  bad = {k: v for k, v in columns.items() if v not in STORAGE}
  if bad:
    raise UserError(f"unknown column kind(s) {bad}; valid: {', '.join(KINDS)}")


def governance_rule(name: str, kind: str) -> FieldRule:
  """The governance policy of a parsed column: ids and labels must be present; categories and text are imputed
  ("unknown", ""), hex categories with -1 (a missing one stays the one "unknown" value, counted as imputed),
  numbers with the train median; invalid history entries are removed."""
  rules = {
      "id": lambda: FieldRule(name, "id"),
      "label": lambda: FieldRule(name, "label", allowed=(0, 1)),
      "category": lambda: FieldRule(name, "category", on_missing="impute", fill="unknown"),
      "hex": lambda: FieldRule(name, "hex", on_missing="impute", fill=-1),
      "text": lambda: FieldRule(name, "text", on_missing="impute", fill=""),
      "number": lambda: FieldRule(name, "number", on_missing="impute"),
      "integer": lambda: FieldRule(name, "integer"),
      "id_list": lambda: FieldRule(name, "id_list"),
  }
  return rules[kind]()


def empty_columns(columns: Dict[str, str]) -> Dict[str, np.ndarray]:
  return {name: np.zeros(0, dtype=STORAGE[kind]) for name, kind in columns.items()}
