"""Sampled-ranking candidates: for each evaluation query, `num` negative items drawn once with a fixed seed
(`eval.ranking.negative_seed`, independent of the model's `seed`) and saved in the workdir, so every model of a
comparison and every evaluation of a run ranks the true item against the same candidates (SASRec's protocol:
100 items the user has not interacted with).

Negatives never include an item the user interacted with in any split, nor the query's true item. `uniform`
draws from the whole catalogue; `popularity` in proportion to each item's training interactions (so items without
any are never drawn). Each query's negatives are distinct; a user who has seen nearly everything gets fewer, and
the rest of the row is -1 (ignored by the ranking).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Optional, Sequence

import numpy as np

from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UserError
from rec_jax.evaluation.ranking_queries import ranking_queries
from rec_jax.workdir import EVAL_NEGATIVES_DIR

SAMPLERS = ("uniform", "popularity")


def sample_negatives(users: np.ndarray, targets: np.ndarray, interacted: ItemSets, num_items: int, num: int,
                     sampler: str, popularity: Optional[np.ndarray], seed: Sequence[int]) -> np.ndarray:
  """[len(users), num] int32 catalogue keys (-1 = none left to draw); `seed`: the numpy seed sequence."""
  if sampler not in SAMPLERS:
    raise UserError(f"eval.ranking.sampler={sampler!r}; valid: {', '.join(SAMPLERS)}")
  p = None
  if sampler == "popularity":
    weights = np.asarray(popularity, np.float64)
    p = weights / weights.sum()
  drawable = num_items if p is None else int((p > 0).sum())
  rng = np.random.default_rng([*seed, 23])
  out = np.full((len(users), num), -1, np.int32)
  for q, (user, target) in enumerate(zip(users, targets)):
    banned = set(interacted.items(int(user)).tolist()) | {int(target)}
    available = drawable - sum(1 for b in banned if p is None or p[b] > 0)
    want = min(num, available)
    chosen = []
    while len(chosen) < want:
      for c in rng.choice(num_items, size=2 * (want - len(chosen)) + 8, p=p):
        if c not in banned:
          banned.add(int(c))
          chosen.append(int(c))
          if len(chosen) == want:
            break
    out[q, :want] = chosen
  return out


def _digest(users, targets, settings) -> str:
  h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
  h.update(np.ascontiguousarray(users, np.int64).tobytes())
  h.update(np.ascontiguousarray(targets, np.int64).tobytes())
  return h.hexdigest()


def saved_negatives(path: str, users: np.ndarray, targets: np.ndarray, settings: dict, draw) -> np.ndarray:
  """The negatives saved at `path` for exactly these queries and settings, else `draw()` saved there."""
  digest = _digest(users, targets, settings)
  if os.path.exists(path):
    with np.load(path) as saved:
      if str(saved["digest"]) != digest:
        raise UserError(f"{path} holds evaluation negatives drawn for other queries or settings than this run's "
                        f"({settings}); use a new workdir or delete the file")
      return saved["negatives"]
  negatives = draw()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + ".tmp.npz"
  np.savez(tmp, negatives=negatives, users=users, targets=targets, digest=np.array(digest),
           settings=np.array(json.dumps(settings, sort_keys=True)))
  os.replace(tmp, path)
  return negatives


def attach_sampled_negatives(ranking, workdir: str, data, split_names: Sequence[str]) -> None:
  """Sets `negatives` of the evaluation splits `split_names` of prepared `data` (data/prepare.py), drawn once with
  the `eval.ranking` options `ranking` (evaluation/full_ranking.py's RankingOptions) and saved in the workdir."""
  train = data.splits["train"].rows
  num_items = len(data.catalogue)
  popularity = np.bincount(train.item_key[train.label > 0], minlength=num_items)
  settings = {"num_negatives": int(ranking.num_negatives), "sampler": ranking.sampler,
              "negative_seed": int(ranking.negative_seed), "num_items": num_items}
  for index, name in enumerate(dict.fromkeys(split_names)):
    arrays = data.splits[name]
    queries = ranking_queries(arrays.rows, ranking.unit)
    users, targets = arrays.rows.user_key[queries.rows], arrays.rows.item_key[queries.rows]

    def draw(users=users, targets=targets, arrays=arrays, index=index):
      return sample_negatives(users, targets, arrays.interacted, num_items, settings["num_negatives"],
                              ranking.sampler, popularity, [settings["negative_seed"], index])
    arrays.negatives = saved_negatives(os.path.join(workdir, EVAL_NEGATIVES_DIR, f"{name}.npz"), users, targets,
                                       settings, draw)
