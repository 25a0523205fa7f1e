"""The training data's distributions that a serving window is compared with (rec_jax.monitor): per model input
and of the scores, as bins and the share of rows in each.

- categorical inputs (`cat.<feature>`, `user_id`, `item_id`): bin 0 is out-of-vocabulary (the id OOV), then the
  `TOP` most frequent train ids one bin each, then every other id;
- numeric inputs (`num.<feature>`, standardised): the train deciles' edges, 10 bins;
- scores: the deciles of the model's scores of the evaluation split's rows (what `/score` returns for them).
"""

from __future__ import annotations

import json
from typing import Dict

import numpy as np

from rec_jax.batch import OOV

TOP = 20
QUANTILES = np.linspace(0.1, 0.9, 9)


def categorical_bins(values: np.ndarray) -> dict:
  values = np.asarray(values).astype(np.int64)
  ids, counts = np.unique(values[values != OOV], return_counts=True)
  top = ids[np.argsort(-counts, kind="stable")[:TOP]]
  ref = {"kind": "categorical", "top": [int(i) for i in top]}
  ref["proportions"] = (bin_counts(ref, values) / max(len(values), 1)).tolist()
  return ref


def numeric_bins(values: np.ndarray) -> dict:
  values = np.asarray(values, np.float64)
  edges = np.unique(np.quantile(values, QUANTILES)) if len(values) else np.zeros(0)
  ref = {"kind": "numeric", "edges": [float(e) for e in edges]}
  ref["proportions"] = (bin_counts(ref, values) / max(len(values), 1)).tolist()
  ref["mean"], ref["std"] = float(values.mean()) if len(values) else 0.0, float(values.std()) if len(values) else 0.0
  return ref


def bin_counts(ref: dict, values) -> np.ndarray:
  """Rows of `values` in each bin of `ref` (a categorical or numeric reference)."""
  values = np.asarray(values)
  if ref["kind"] == "categorical":
    top = np.asarray(ref["top"], np.int64)
    out = np.zeros(len(top) + 2, np.int64)
    values = values.astype(np.int64)
    out[0] = int(np.sum(values == OOV))
    rest = values[values != OOV]
    match = rest[:, None] == top[None, :] if len(top) else np.zeros((len(rest), 0), bool)
    out[1:1 + len(top)] = match.sum(axis=0)
    out[-1] = int(len(rest) - match.any(axis=1).sum())
    return out
  edges = np.asarray(ref["edges"], np.float64)
  return np.bincount(np.searchsorted(edges, values.astype(np.float64), side="right"), minlength=len(edges) + 1)


def monitored_inputs(signature) -> Dict[str, str]:
  """{input name: kind} of the inputs a window records: ids, categorical and numeric features."""
  out = {"user_id": "categorical", "item_id": "categorical"}
  out.update({f"cat.{n}": "categorical" for n in signature.categorical})
  out.update({f"num.{n}": "numeric" for n in signature.numeric})
  return out


def write(run, signature, path: str) -> None:
  """The reference of `run`: its train split's inputs and its scores of the evaluation split."""
  # Imported here: the analysis code builds the run's scorer, which serving itself never needs.
  from rec_jax.analysis.scoring import predict  # pylint: disable=import-outside-toplevel
  from rec_jax.serving.signature import rows_inputs  # pylint: disable=import-outside-toplevel
  train = run.data.splits["train"]
  monitored = monitored_inputs(signature)
  inputs = rows_inputs(train.rows, train.texts, signature, "score", names=list(monitored))
  ref = {}
  for name, kind in monitored.items():
    ref[name] = categorical_bins(inputs[name]) if kind == "categorical" else numeric_bins(inputs[name])
  split = run.config.eval.split
  scores = predict(run, run.split(split))
  ref_scores = numeric_bins(scores)
  ref_scores["split"] = split
  with open(path, "w") as f:
    json.dump({"rows": len(train), "inputs": ref, "score": ref_scores}, f)
