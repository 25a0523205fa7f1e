r"""Surprise's SVD and SVD++ on MovieLens 100k's predefined folds, for benchmarks/rating.py (run in the peers' venv:
Surprise needs numpy < 2, see benchmarks/peers/requirements.txt):

  /work/peers/.venv/bin/python benchmarks/peers/surprise_folds.py --data=/path/to/ml-100k --out=surprise.json

Each fold trains on u<k>.base and is tested on u<k>.test with Surprise's own reader and its documented defaults
(SVD: 100 factors, 20 epochs, lr 0.005, reg 0.02; SVD++: 20 factors, 20 epochs, lr 0.007, reg 0.02), or the
settings passed as JSON (`--svd`, `--svdpp`). Writes per algorithm the RMSE and MAE of every fold and their mean,
plus the fit seconds, to `--out`.
"""

import argparse
import json
import os
import time

import numpy as np
from surprise import SVD, Dataset, Reader, SVDpp, accuracy
from surprise.model_selection import PredefinedKFold


def run_folds(algo_class, params, folds, reader, seed):
  out = {"params": params, "folds": {}}
  for name in folds:
    data = Dataset.load_from_folds([(f"{name}.base", f"{name}.test")], reader)
    train, test = next(PredefinedKFold().split(data))
    algo = algo_class(random_state=seed, **params)
    start = time.perf_counter()
    algo.fit(train)
    fit = time.perf_counter() - start
    predictions = algo.test(test)
    out["folds"][os.path.basename(name)] = {
        "rmse": accuracy.rmse(predictions, verbose=False), "mae": accuracy.mae(predictions, verbose=False),
        "fit_seconds": fit}
  for key in ("rmse", "mae", "fit_seconds"):
    values = [f[key] for f in out["folds"].values()]
    out[key], out[key + "_std"] = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1], formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data", required=True, help="the ml-100k directory (u1.base ... u5.test)")
  p.add_argument("--out", required=True)
  p.add_argument("--folds", default="u1,u2,u3,u4,u5")
  p.add_argument("--svd", default="{}", help="SVD parameters as JSON (default: Surprise's)")
  p.add_argument("--svdpp", default="{}", help="SVDpp parameters as JSON (default: Surprise's)")
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  reader = Reader("ml-100k")
  folds = [os.path.join(args.data, f) for f in args.folds.split(",")]
  result = {"svd": run_folds(SVD, json.loads(args.svd), folds, reader, args.seed),
            "svdpp": run_folds(SVDpp, json.loads(args.svdpp), folds, reader, args.seed)}
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  for name, r in result.items():
    print(f"{name}: rmse {r['rmse']:.4f} ± {r['rmse_std']:.4f}  mae {r['mae']:.4f}  fit {r['fit_seconds']:.1f}s/fold")


if __name__ == "__main__":
  main()
