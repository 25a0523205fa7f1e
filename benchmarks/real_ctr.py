r"""python benchmarks/real_ctr.py --data=/path/to/ml-100k [--config=configs/movielens_ctr.py[:preset]] [--override=key=value ...] [--workdir=DIR] [--skip_ours] [--threads=2]

CTR quality on real public data: rec_jax's config against two peers trained on exactly the same rows, with every
test metric computed by the same code (rec_jax/evaluation/pointwise.py's `ctr_metrics`, on rec_jax.evaluation.metrics).
Needs scikit-learn, torch and fuxictr (`pip install -e ".[ref,bench]"`); runs offline on files already on disk.

1. ours: `python -m rec_jax.main --config=<config> --workdir=<workdir>/ours --config.data.path=<data>
   [--config.<key>=<value> ...]` in a subprocess (a finished workdir is reused: rec_jax resumes or just reports), and
   its results.json: the test metrics of the best validation checkpoint, and `wall_time_s` (the whole run: data
   preparation, text tower, training, periodic validation, checkpoints, final test).
2. The rows: the same config (loaded with rec_jax.config.loader and overridden by absl exactly as rec_jax.main
   does) prepared by `prepare_data` with the vocabularies the ours run fitted (its feature_processor.json), so the
   train/validation/test splits, the held-out cold items (`data.split.cold_item_fraction`) and every id are the
   run's own; checked against the `data` and `features` sections of the run's config.json and its test row counts.
   Per split, `user_id`, `item_id`, each `features.categorical` column (ids) and `features.numeric` column
   (standardised), `label`, `item_is_cold` and `rank_group` go to `<workdir>/peers/data/<split>.npz`, which both
   peers read. The peers see no text: the config's `features.text` columns (MovieLens: title and genres) reach only
   our text tower.
3. Logistic regression (scikit-learn, lbfgs, L2, no class weights): one-hot user id + item id + every categorical
   field (a column per vocabulary id, the reserved PAD and OOV ids included) plus the numeric fields. The OOV column
   is kept: with `features.min_count=1` no train row has an OOV id (cold items, unseen users and values occur only in
   validation and test), so its weight is exactly 0 under L2, the same as an all-zero one-hot. C is chosen on the
   validation split's AUC over C in (0.01, 0.03, 0.1, 0.3, 1, 3), fitted on train only, then evaluated on test.
4. FuxiCTR's DeepFM (benchmarks/_fuxictr_deepfm.py, a child process): LR(x) + FM(emb) + DNN(emb) from fuxictr's
   own layers, trained by its `BaseModel.fit` over its `RankDataLoader` with its early stopping (monitor AUC on
   validation, patience 2, lr x 0.1 on a plateau, best epoch's weights kept; at most 30 epochs), Adam 1e-3, batch
   1024. Grid, chosen on validation AUC: FuxiCTR's tuned MovieLens setting (BARS benchmark, DeepFM on
   MovielensLatest_x1: embedding_dim 10, hidden_units [400, 400, 400], batch_norm, net_dropout 0.3,
   embedding_regularizer 0.01, batch 4096 for 1.4 M rows) with embedding_regularizer 0.01 / 0.1 / 0.001 / 0.3 / 1 / 3
   (its regularizer weighs every embedding row each step, so its scale matters most on small data; the grid
   reaches past the best value on both MovieLens sets), and the untuned
   argument defaults of the DeepFM class in FuxiCTR's model_zoo source (hidden_units [64, 64, 64], no dropout, batch
   norm or regularizer; not its DeepFM_default yaml template). Batch 1024 rather
   than 4096 keeps about BARS's number of steps per epoch on 100k-row data (and is our config's batch).

Train wall seconds: ours, the whole run (above); logistic regression, the fit of the chosen C; DeepFM, the chosen
setting's `fit` (training and its per-epoch validation). "grid s" is the whole selection. Prints the LR and DeepFM
grids on validation, a markdown table of test metrics, and ends with
`auc_ours=<a> auc_lr=<b> auc_deepfm=<c> margin_vs_best_peer=<a - max(b, c)>`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp
from absl import flags
from ml_collections import config_flags
from sklearn.linear_model import LogisticRegression

from rec_jax.config import dict_overrides
from rec_jax.config.loader import read_command_line
from rec_jax.data.datasets import DATASETS
from rec_jax.data.features import FeatureOptions
from rec_jax.data.prepare import prepare_data
from rec_jax.evaluation.pointwise import ctr_metrics
from rec_jax.workdir import RunFiles

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.relpath(os.path.join(HERE, "..", "configs", "movielens_ctr.py"))
FUXICTR = os.path.join(HERE, "_fuxictr_deepfm.py")
SPLITS = ("train", "validation", "test")
LR_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
BARS_MOVIELENS = dict(embedding_dim=10, hidden_units=[400, 400, 400], batch_norm=True, net_dropout=0.3,
                      net_regularizer=0.0, learning_rate=1e-3, batch_size=1024)
DEEPFM_GRID = (
    {**BARS_MOVIELENS, "embedding_regularizer": 0.01},
    {**BARS_MOVIELENS, "embedding_regularizer": 0.1},
    {**BARS_MOVIELENS, "embedding_regularizer": 0.001},
    {**BARS_MOVIELENS, "embedding_regularizer": 0.3},
    {**BARS_MOVIELENS, "embedding_regularizer": 1.0},
    {**BARS_MOVIELENS, "embedding_regularizer": 3.0},
    {**BARS_MOVIELENS, "hidden_units": [64, 64, 64], "batch_norm": False, "net_dropout": 0.0,
     "embedding_regularizer": 0.0},
)
DEEPFM_TRAIN = dict(epochs=30, patience=2)
COLUMNS = ("auc", "auc/warm", "auc/cold", "logloss", "gauc")


def _args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[2])
  p.add_argument("--data", required=True, help="the dataset's official files (data.path)")
  p.add_argument("--config", default=DEFAULT_CONFIG, help="config file[:presets]")
  p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                 help="passed to rec_jax as --config.KEY=VALUE (repeatable)")
  p.add_argument("--workdir", default=None, help="default: a new temporary directory (kept, for --skip_ours)")
  p.add_argument("--skip_ours", action="store_true", help="read the finished run in <workdir>/ours, do not run it")
  p.add_argument("--threads", type=int, default=2, help="torch threads of FuxiCTR's child process")
  return p.parse_args()


def load_run_config(spec: str, overrides):
  """The ConfigDict rec_jax.main would run: `spec` parsed by ml_collections' config flag with the same
  `--config.key=value` overrides, after the same check of unknown keys."""
  errors, argv, dict_options = read_command_line(["real_ctr", f"--config={spec}", *overrides])
  if errors:
    sys.exit("error: " + "\nerror: ".join(errors))
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "experiment config", flag_values=values, sys_argv=argv)
  values(argv)
  dict_overrides.apply(values.config, dict_options)
  return values.config


def run_ours(config_spec: str, overrides, ours_dir: str, skip: bool) -> dict:
  """Runs (or resumes) rec_jax in `ours_dir` unless `skip`; returns its results.json."""
  if not skip:
    os.makedirs(ours_dir, exist_ok=True)
    log = os.path.join(ours_dir, "run.log")
    cmd = [sys.executable, "-m", "rec_jax.main", f"--config={config_spec}", f"--workdir={ours_dir}", *overrides]
    print("ours:", " ".join(cmd), f"(log: {log})", flush=True)
    with open(log, "a") as f:
      code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if code:
      with open(log) as f:
        tail = "".join(f.readlines()[-20:])
      sys.exit(f"error: rec_jax exited with {code}; last lines of {log}:\n{tail}")
  files = RunFiles(ours_dir)
  if not files.finished():
    sys.exit(f"error: {ours_dir} holds no finished run (no results.json); run without --skip_ours")
  return files.read_results()


def prepare_rows(config, ours_dir: str, results: dict):
  """The run's splits, rebuilt with the run's fitted vocabularies; fails if the run had other data or features
  sections (config.json) or evaluated other test rows."""
  with open(RunFiles(ours_dir).config_path) as f:
    saved = json.load(f)
  now = json.loads(config.to_json_best_effort())
  for section in ("data", "features"):   # what the rows depend on; a later code change may add other options
    if saved[section] != now[section]:
      sys.exit(f"error: {ours_dir} ran with another `{section}` section than this config; use another --workdir")
  features = FeatureOptions.from_config(config.features, where="features")
  data = prepare_data(DATASETS.get(config.data.name).DATASET, config.data, features, ours_dir,
                      required_splits=SPLITS, write_report=False)
  test, m = data.splits["test"].rows, results["metrics"]
  if (m.get("num_rows"), m.get("num_rows/cold")) != (len(test), int(test.item_is_cold.sum())):
    raise RuntimeError(f"rebuilt test split has {len(test)} rows ({int(test.item_is_cold.sum())} cold) but the run "
                       f"evaluated {m.get('num_rows')} ({m.get('num_rows/cold')} cold)")
  return {name: data.splits[name].rows for name in SPLITS}, data.vocab_sizes(), features


def export(rows, fields, numeric, out_dir: str) -> None:
  os.makedirs(out_dir, exist_ok=True)
  for name, r in rows.items():
    columns = {"user_id": r.user_id, "item_id": r.item_id, **r.categorical}
    np.savez(os.path.join(out_dir, f"{name}.npz"), label=r.label.astype(np.float32),
             item_is_cold=r.item_is_cold, rank_group=r.rank_group,
             **{f: columns[f].astype(np.int64) for f in fields}, **{f: r.numeric[f] for f in numeric})


def design_matrix(split, fields, numeric, vocab_sizes):
  """One-hot of every id field side by side (a column per vocabulary id), then the numeric fields."""
  offsets = np.cumsum([0] + [vocab_sizes[f] for f in fields])
  n = len(split["label"])
  cols = np.stack([split[f] + offsets[i] for i, f in enumerate(fields)], axis=1).ravel()
  onehot = sp.csr_matrix((np.ones(len(cols)), cols, np.arange(0, len(cols) + 1, len(fields))),
                         shape=(n, offsets[-1]))
  if not numeric:
    return onehot
  return sp.hstack([onehot, sp.csr_matrix(np.stack([split[f] for f in numeric], axis=1))], format="csr")


def logistic_regression(data, fields, numeric, vocab_sizes, score):
  """C chosen on validation AUC; returns (test probs, chosen C, fit seconds of it, grid seconds, grid table)."""
  x = {name: design_matrix(data[name], fields, numeric, vocab_sizes) for name in SPLITS}
  grid, best, start = [], None, time.perf_counter()
  for c in LR_GRID:
    t0 = time.perf_counter()
    model = LogisticRegression(C=c, max_iter=2000).fit(x["train"], data["train"]["label"])
    seconds = time.perf_counter() - t0
    valid = score("validation", model.predict_proba(x["validation"])[:, 1])
    grid.append((f"C={c}", valid, seconds))
    if best is None or valid["auc"] > best[1]["auc"]:
      best = (c, valid, seconds, model.predict_proba(x["test"])[:, 1])
  return best[3], f"C={best[0]}", best[2], time.perf_counter() - start, grid


def fuxictr_deepfm(data_dir, fields, numeric, vocab_sizes, seed, threads, workdir, score):
  """The DeepFM grid in the child; returns (test probs of the setting best on validation AUC, its description, its
  fit seconds, grid seconds, grid table)."""
  spec = dict(data_dir=data_dir, model_root=os.path.join(workdir, "fuxictr_checkpoints"), threads=threads,
              result=os.path.join(workdir, "fuxictr_result.npz"), categorical={f: vocab_sizes[f] for f in fields},
              numeric=list(numeric), grid=list(DEEPFM_GRID), train=dict(DEEPFM_TRAIN, seed=seed))
  spec_path = os.path.join(workdir, "fuxictr_spec.json")
  with open(spec_path, "w") as f:
    json.dump(spec, f, indent=1)
  start = time.perf_counter()
  subprocess.run([sys.executable, FUXICTR, spec_path], check=True)
  grid_seconds = time.perf_counter() - start
  out = np.load(spec["result"])
  grid = [(f"[{i}] {describe(setting)}", score("validation", out[f"{i}/valid_probs"]),
           float(out[f"{i}/fit_seconds"])) for i, setting in enumerate(DEEPFM_GRID)]
  best = max(range(len(grid)), key=lambda i: grid[i][1]["auc"])
  return out[f"{best}/test_probs"], grid[best][0], grid[best][2], grid_seconds, grid


def describe(setting: dict) -> str:
  s = setting
  return (f"emb {s['embedding_dim']}, mlp {s['hidden_units']}{', bn' if s['batch_norm'] else ''}, "
          f"dropout {s['net_dropout']}, emb_reg {s['embedding_regularizer']}")


def _fmt(value) -> str:
  return "n/a" if value is None or value != value else f"{value:.4f}"


def print_grid(title, grid):
  print(f"\n{title} (validation)\n\n| setting | " + " | ".join(COLUMNS[:4]) + " | fit s |\n|---|---|---|---|---|---|")
  for name, m, seconds in grid:
    print(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in COLUMNS[:4]) + f" | {seconds:.1f} |")


def main():
  args = _args()
  overrides = [f"--config.data.path={args.data}"] + [f"--config.{o}" for o in args.override]
  config = load_run_config(args.config, overrides)
  if config.data.split.get("folds"):
    sys.exit("error: a k-fold config (data.split.folds) has one results.json per fold; use one split")
  workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="real_ctr_"))
  ours_dir, peers_dir = os.path.join(workdir, "ours"), os.path.join(workdir, "peers")
  print(f"config {args.config} {' '.join(overrides)}; workdir {workdir}", flush=True)

  results = run_ours(args.config, overrides, ours_dir, args.skip_ours)
  rows, vocab_sizes, features = prepare_rows(config, ours_dir, results)
  fields = tuple(dict.fromkeys(("user_id", "item_id", *features.categorical)))   # ids once, even if also listed
  numeric = tuple(features.numeric)
  data_dir = os.path.join(peers_dir, "data")
  export(rows, fields, numeric, data_dir)
  data = {name: dict(np.load(os.path.join(data_dir, f"{name}.npz"))) for name in SPLITS}
  ndcg_k = config.eval.ndcg_k

  def score(split, probs):
    return ctr_metrics(rows[split], np.asarray(probs, np.float64), ndcg_k)

  print("rows: " + ", ".join(f"{s} {len(rows[s])} ({rows[s].label.mean():.3f} positive, "
                                f"{int(rows[s].item_is_cold.sum())} cold-item rows)" for s in SPLITS))
  print("peer fields: " + ", ".join(f"{f}[{vocab_sizes[f]}]" for f in fields + numeric)
        + f"; ours also reads text {tuple(features.text)}", flush=True)

  lr_probs, lr_choice, lr_seconds, lr_grid_s, lr_grid = logistic_regression(data, fields, numeric, vocab_sizes,
                                                                            score)
  print_grid("logistic regression grid", lr_grid)
  print("\nFuxiCTR DeepFM grid (child process):", flush=True)
  fm_probs, fm_choice, fm_seconds, fm_grid_s, fm_grid = fuxictr_deepfm(
      data_dir, fields, numeric, vocab_sizes, config.seed, args.threads, peers_dir, score)
  print_grid("FuxiCTR DeepFM grid", fm_grid)

  table = [("ours (rec_jax)", results["metrics"], results.get("wall_time_s"), None, args.config),
           ("logistic regression", score("test", lr_probs), lr_seconds, lr_grid_s, lr_choice),
           ("FuxiCTR DeepFM", score("test", fm_probs), fm_seconds, fm_grid_s, fm_choice)]
  print(f"\ntest split ({len(rows['test'])} rows, {int(rows['test'].item_is_cold.sum())} of cold items); ours: "
        f"best validation checkpoint at step {results.get('evaluated_step')} of {results.get('step')}\n")
  print("| model | " + " | ".join(COLUMNS) + " | train wall s | grid s | chosen |")
  print("|---|" + "---|" * (len(COLUMNS) + 3))
  for name, m, seconds, grid_s, choice in table:
    wall = [f"{s:.1f}" if s is not None else "-" for s in (seconds, grid_s)]
    print(f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in COLUMNS) + f" | {' | '.join(wall)} | {choice} |")
  aucs = [m["auc"] for _, m, *_ in table]
  print(f"\nauc_ours={aucs[0]:.4f} auc_lr={aucs[1]:.4f} auc_deepfm={aucs[2]:.4f} "
        f"margin_vs_best_peer={aucs[0] - max(aucs[1:]):+.4f}")


if __name__ == "__main__":
  main()
