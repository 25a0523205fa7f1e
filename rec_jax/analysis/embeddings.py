"""Item and user vectors of a loaded run, their nearest neighbours, and a 2-D projection for plots."""

from __future__ import annotations

from typing import Tuple

import jax
import numpy as np
from flax import nnx

from rec_jax.analysis.loaded_run import LoadedRun
from rec_jax.batch import FeatureArrays
from rec_jax.data.pipeline import eval_batches
from rec_jax.errors import UnknownNameError

# tower -> the model method whose output it is (and the key of a dict output).
_HYBRID_TOWERS = ("text", "item", "user", "history", "query")
_METHODS = {"candidate": "candidate_vectors", "query": "query_vectors"}


def _tower_fn(run: LoadedRun, tower: str):
  model = run.model
  towers = list(_HYBRID_TOWERS if hasattr(model, "tower_vectors") else ())
  towers += [t for t, m in _METHODS.items() if hasattr(model, m) and t not in towers]
  if tower not in towers:
    raise UnknownNameError(f"tower {tower!r}: model {run.config.model.name!r} has {', '.join(towers)}")
  graphdef = run.graphdef

  def vectors(params, frozen, batch):
    m = nnx.merge(graphdef, params, frozen)
    if tower in _HYBRID_TOWERS and hasattr(m, "tower_vectors"):
      out = m.tower_vectors(batch)
      if tower not in out:
        raise UnknownNameError(f"tower {tower!r} is off in this run (model.use_text / use_cf / history / query)")
      return out[tower]
    return getattr(m, _METHODS[tower])(batch)

  return jax.jit(vectors)


def _vectors(run: LoadedRun, arrays: FeatureArrays, tower: str) -> np.ndarray:
  fn = _tower_fn(run, tower)
  out = []
  for batch in eval_batches(arrays, run.config.eval.batch_size):
    out.append(np.asarray(fn(run.params, run.frozen, batch))[batch.weight > 0])
  return np.concatenate(out).astype(np.float32)


def item_embeddings(run: LoadedRun, tower: str = "text") -> np.ndarray:
  """[num_items, dim], one row per catalogue item (run.item_ids()): `text` (the text tower's vector), `item` (the
  CF id vector; every cold item shares the OOV row) or, for two-tower and sequential models, `candidate`."""
  return _vectors(run, run.catalogue, tower)


def user_embeddings(run: LoadedRun, split: str = "train", tower: str = "user") -> Tuple[np.ndarray, np.ndarray]:
  """(user keys, [num_users, dim]): each user of `split` at their last row there; `user` (CF id), `history`
  (the encoded behaviour) or `query` (the whole user side of two-tower and sequential models)."""
  arrays = run.split(split)
  keys = arrays.rows.user_key
  last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
  last = np.sort(last)
  return keys[last], _vectors(run, FeatureArrays(arrays.rows.take(last), arrays.texts), tower)


def nearest_items(vectors: np.ndarray, item: int, k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
  """(indices, cosine similarities) of the k items nearest to catalogue item `item`, itself excluded."""
  unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
  sims = unit @ unit[item]
  sims[item] = -np.inf
  order = np.argsort(-sims, kind="stable")[:k]
  return order, sims[order]


def project_2d(vectors: np.ndarray) -> np.ndarray:
  """[n, 2]: the vectors' first two principal components (centred, via SVD; deterministic up to sign, which is
  fixed so the largest-magnitude loading of each component is positive)."""
  centred = vectors - vectors.mean(axis=0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  components = vt[:2]
  signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
  return centred @ (components * signs[:, None]).T
