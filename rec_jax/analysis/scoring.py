"""Scoring a loaded run: predictions and the run's own metrics on any slice of a split, a user's top-K items with
the items they have already seen excluded, and per-field importance by permutation."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from rec_jax.analysis.loaded_run import LoadedRun
from rec_jax.batch import FeatureArrays, Rows, TextTables, pair_with_items
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.evaluation.pointwise import SLICES, predict_split


def select_rows(arrays: FeatureArrays, rows: np.ndarray) -> FeatureArrays:
  """The rows `rows` (indices or a boolean mask) of a split; texts and per-split data stay shared."""
  return arrays.select(rows)


def slice_rows(run: LoadedRun, split: str, slice: Optional[Union[str, np.ndarray]] = None) -> FeatureArrays:
  """A split, or its `warm` / `cold` item slice, or the rows of a boolean mask."""
  arrays = run.split(split)
  if slice is None or slice == "":
    return arrays
  if isinstance(slice, str):
    if slice not in SLICES:
      raise UnknownNameError(f"slice {slice!r}: valid are {', '.join(s for s in SLICES if s)} or a boolean mask")
    return select_rows(arrays, SLICES[slice](arrays.rows))
  mask = np.asarray(slice)
  if mask.dtype == bool and mask.shape != (len(arrays),):
    raise UserError(f"a mask over split {split!r} needs {len(arrays)} entries, got {mask.shape}")
  return select_rows(arrays, mask)


def evaluate(run: LoadedRun, split: str = "test", slice=None, arrays: Optional[FeatureArrays] = None
             ) -> Dict[str, float]:
  """The metrics the run's evaluation protocol reports (those of results.json), on a split, slice or given rows."""
  arrays = slice_rows(run, split, slice) if arrays is None else arrays
  return run.evaluator(run.params, arrays)


def predict(run: LoadedRun, arrays: FeatureArrays) -> np.ndarray:
  """One score per row: the predicted probability or rating of pointwise tasks; for ranking tasks (retrieval,
  next item) the dot product of the row's query vector with its own item's vector."""
  size = run.config.eval.batch_size
  if run.task.pointwise:
    return predict_split(run.bound(), arrays, size)
  queries = predict_split(run.bound("query_vectors"), arrays, size)
  return np.sum(queries * _candidates(run)[arrays.rows.item_key], axis=-1)


def _candidates(run: LoadedRun) -> np.ndarray:
  return predict_split(run.bound("candidate_vectors"), run.catalogue, run.config.eval.batch_size)


def _user_against_catalogue(run: LoadedRun, arrays: FeatureArrays, row: Rows) -> FeatureArrays:
  """One row per catalogue item: the item's columns from the catalogue, everything else (user, context,
  history, search query) from the user's row of `arrays`."""
  catalogue = run.catalogue
  rows = pair_with_items(row, catalogue.rows, run.config.features.item_features)
  return FeatureArrays(rows, TextTables(text=catalogue.texts.text, query=arrays.texts.query))


def top_k(run: LoadedRun, user, k: int = 10, split: str = "test", exclude_seen: bool = True) -> dict:
  """The user's K best-scored catalogue items, for the context of their last row in `split`. `exclude_seen`
  drops the items they had in earlier splits (and those of the row's behaviour history)."""
  key = run.user_key(user)
  arrays = run.split(split)
  mine = np.flatnonzero(arrays.rows.user_key == key)
  if not len(mine):
    raise UnknownNameError(f"user {user!r} has no row in split {split!r}; pick a split they appear in")
  row = arrays.rows.take(mine[-1:])
  if not run.task.pointwise:
    single = FeatureArrays(row, arrays.texts)
    query = predict_split(run.bound("query_vectors"), single, run.config.eval.batch_size)[0]
    scores = _candidates(run) @ query
  else:
    scores = predict(run, _user_against_catalogue(run, arrays, row)).astype(np.float64)
  excluded = np.zeros(len(scores), bool)
  if exclude_seen:
    excluded[arrays.seen.items(key)] = True
  scores = np.where(excluded, -np.inf, scores)
  best = np.argsort(-scores, kind="stable")[:min(k, int((~excluded).sum()))]
  return {"items": best, "item_ids": run.item_ids()[best], "scores": scores[best], "excluded": int(excluded.sum())}


def _fields(rows: Rows) -> Dict[str, Tuple[np.ndarray, Callable[[np.ndarray], Rows]]]:
  """Field name -> (its values, values -> `rows` with the field replaced by them): the categorical and numeric
  features, then the ids, the history and the texts (a later name wins: a zoo config's `user_id` feature is the id)."""
  fields = {}
  for group in ("categorical", "numeric"):
    for name, values in getattr(rows, group).items():
      fields[name] = (values, lambda v, g=group, n=name: rows.replace(**{g: {**getattr(rows, g), n: v}}))
  for name, field in (("user_id", "user_id"), ("item_id", "item_id"), ("history", "history"), ("text", "text_index"),
                      ("query", "query_index")):
    if getattr(rows, field) is not None:
      fields[name] = (getattr(rows, field), lambda v, f=field: rows.replace(**{f: v}))
  return fields


def permutation_importance(run: LoadedRun, split: str = "test", metric: str = "auc",
                           fields: Optional[Sequence[str]] = None, seed: int = 0) -> Dict[str, float]:
  """How much `metric` worsens when one field's values are shuffled across the split's rows (the others kept):
  positive = the model relies on it. Fields: categorical and numeric features, ids, history, text."""
  arrays = run.split(split)
  available = _fields(arrays.rows)
  fields = list(fields or available)
  unknown = [f for f in fields if f not in available]
  if unknown:
    raise UnknownNameError(f"fields {unknown} are not in split {split!r}; fields: {sorted(available)}")
  base = evaluate(run, arrays=arrays)
  if metric not in base:
    raise UnknownNameError(f"metric {metric!r} is not reported by this run; metrics: {sorted(base)}")
  sign = -1.0 if run.task.metrics.lower_is_better(metric) else 1.0
  rng = np.random.default_rng(seed)
  out = {}
  for name in fields:
    values, replaced = available[name]
    permuted = evaluate(run, arrays=dataclasses.replace(arrays, rows=replaced(values[rng.permutation(len(arrays))])))
    out[name] = sign * (base[metric] - permuted[metric])
  return dict(sorted(out.items(), key=lambda kv: -kv[1]))
