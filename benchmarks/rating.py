r"""Rating prediction on MovieLens 100k's five predefined folds: ours against Surprise's SVD and SVD++, in one run.

  python benchmarks/rating.py --data=/path/to/ml-100k [--config=configs/movielens_rating.py] [--override=key=value ...]

Both sides train on u<k>.base and are tested on u<k>.test for k = 1..5, the protocol of the rating literature, and
report the mean test RMSE and MAE over the folds (± the std over folds).
- **ours**: `python -m rec_jax.main --config=<config>` (default configs/movielens_rating.py: biased MF with
  side features and SVD++'s implicit feedback, `train.embedding_l2`; 10 % of each base file held out for
  validation, which picks the checkpoint and, for the config's defaults, the settings); its `results.json`.
- **Surprise** 1.1 (scikit-surprise), `SVD` and `SVDpp` with their documented defaults (Surprise's own benchmark
  table uses them), run by benchmarks/peers/surprise_folds.py in the peers' venv (`--peer_python`, default
  /work/peers/.venv/bin/python; see benchmarks/peers/requirements.txt), fitted on the whole base file.

Prints a table (markdown) and ends with `rmse_ours=... rmse_svd=... rmse_svdpp=... margin_vs_svdpp=...`
(margin > 0: ours is lower).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data", required=True, help="the extracted ml-100k directory (u1.base ... u5.test, u.user, u.item)")
  p.add_argument("--config", default=os.path.join(REPO, "configs", "movielens_rating.py"))
  p.add_argument("--override", action="append", default=[], help="key=value, passed as --config.key=value")
  p.add_argument("--workdir", default="", help="default: a new temporary directory")
  p.add_argument("--peer_python", default="/work/peers/.venv/bin/python")
  p.add_argument("--peer", choices=("surprise", "none"), default="surprise")
  return p.parse_args()


def run_ours(args, workdir: str) -> dict:
  flags = [f"--config.{o}" for o in args.override]
  start = time.perf_counter()
  subprocess.run([sys.executable, "-m", "rec_jax.main", f"--config={args.config}", f"--workdir={workdir}",
                  f"--config.data.path={os.path.abspath(args.data)}", *flags], check=True, cwd=REPO,
                 stdout=sys.stderr)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  std = results.get("metrics_std", {})
  return {"rmse": results["metrics"]["rmse"], "rmse_std": std.get("rmse", 0.0), "mae": results["metrics"]["mae"],
          "seconds": time.perf_counter() - start}


def run_surprise(args, workdir: str) -> dict:
  out = os.path.join(workdir, "surprise.json")
  start = time.perf_counter()
  subprocess.run([args.peer_python, os.path.join(HERE, "peers", "surprise_folds.py"),
                  f"--data={os.path.abspath(args.data)}", f"--out={out}"], check=True, stdout=sys.stderr)
  with open(out) as f:
    result = json.load(f)
  result["seconds"] = time.perf_counter() - start
  return result


def main():
  args = parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix="rating_")
  os.makedirs(workdir, exist_ok=True)
  rows = {"rec_jax (" + os.path.basename(args.config) + " " + " ".join(args.override) + ")":
          run_ours(args, os.path.join(workdir, "ours"))}
  if args.peer == "surprise":
    peers = run_surprise(args, workdir)
    rows["Surprise SVD"] = dict(peers["svd"], seconds=sum(f["fit_seconds"] for f in peers["svd"]["folds"].values()))
    rows["Surprise SVD++"] = dict(peers["svdpp"],
                                  seconds=sum(f["fit_seconds"] for f in peers["svdpp"]["folds"].values()))
  print("\n| ml-100k, u1..u5 (mean over folds) | rmse | mae | seconds (5 folds) |\n|---|---|---|---|")
  for name, r in rows.items():
    print(f"| {name.strip()} | {r['rmse']:.4f} ± {r['rmse_std']:.4f} | {r['mae']:.4f} | {r['seconds']:.0f} |")
  ours = next(iter(rows.values()))["rmse"]
  line = f"rmse_ours={ours:.4f}"
  if args.peer == "surprise":
    svd, svdpp = rows["Surprise SVD"]["rmse"], rows["Surprise SVD++"]["rmse"]
    line += f" rmse_svd={svd:.4f} rmse_svdpp={svdpp:.4f} margin_vs_svdpp={svdpp - ours:.4f}"
  print(line)


if __name__ == "__main__":
  main()
