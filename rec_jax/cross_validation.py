"""K-fold runs over a dataset's predefined folds (`data.split.folds`, e.g. ml-100k's u1..u5): one complete run
per fold in `<workdir>/fold_<name>/` (each resumable on its own), then `<workdir>/results.json` with the mean of
every metric over the folds in `metrics`, and each fold's metrics beside them in `folds` (with the std in
`metrics_std`). This is how the rating literature reports ml-100k (five-fold RMSE / MAE)."""

from __future__ import annotations

import copy
import numpy as np
from absl import logging

from rec_jax.config.base import with_defaults
from rec_jax.errors import UserError
from rec_jax.workdir import RunFiles, fold_dir


def is_cross_validation(config) -> bool:
  split = config.data.get("split", None)
  return split is not None and len(split.get("folds", ())) > 0


def run_folds(config, workdir: str, train_and_evaluate) -> dict:
  files = RunFiles(workdir)
  files.write_or_check_config(config, with_defaults)
  if files.finished():
    return files.read_results()
  if config.data.split.kind != "predefined":
    raise UserError(f"data.split.folds={tuple(config.data.split.folds)} needs data.split.kind=predefined, "
                    f"not {config.data.split.kind!r}")
  folds = {}
  for fold in config.data.split.folds:
    fold_config = copy.deepcopy(config)
    fold_config.data.split.folds = ()
    fold_config.data.split.fold = fold
    logging.info("fold %s of %s", fold, tuple(config.data.split.folds))
    folds[fold] = train_and_evaluate(fold_config, fold_dir(workdir, fold))
  names = sorted(set.intersection(*(set(r["metrics"]) for r in folds.values())))
  values = {k: np.array([folds[f]["metrics"][k] for f in folds], np.float64) for k in names}
  results = {"metrics": {k: float(v.mean()) for k, v in values.items()},
             "metrics_std": {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()},
             "folds": {f: r["metrics"] for f, r in folds.items()},
             "split": config.eval.final_split, "num_folds": len(folds),
             "step": int(np.mean([r["step"] for r in folds.values()])),
             "wall_time_s": float(sum(r["wall_time_s"] for r in folds.values())),
             "parameters": next(iter(folds.values()))["parameters"],
             "train_steps_per_s": float(np.mean([r["train_steps_per_s"] or 0.0 for r in folds.values()]))}
  files.write_results(results)
  m = results["metrics"]
  logging.info("mean over %d folds: %s", len(folds),
               " ".join(f"{k}={m[k]:.4f}±{results['metrics_std'][k]:.4f}" for k in ("rmse", "mae", "auc") if k in m))
  return results
