r"""One epoch of configs/criteo_ctr.py on a Kaggle-size Criteo file on one machine, and what streaming costs: the
whole command (`python -m rec_jax.main`) in a child process, its wall time, peak RSS and training examples/s.

  python benchmarks/criteo_epoch.py --workdir=/tmp/criteo_epoch [--rows 45000000] [--compare_rows 2000000]
                                    [--no_epoch]

Data: `rec_jax.data.generators.criteo_like` writes `--rows` impressions in the Kaggle `train.txt` format into the
workdir (kept for re-runs: the file of a spec is written once). The run is the config as it is: the file parsed
and stored by TFDS (array_record), prepared block by block into row stores (`data.streaming`,
rec_jax/data/streaming/), a random 8:1:1 split, DCN-v2 with lazy-Adam id tables, batch 4096, one epoch of the
train split (its whole batches), evaluation on validation every `--eval_every` steps and on test at the end.

Peer, in the same invocation: with `--compare_rows` N > 0, the first N impressions run both ways, streamed and
held in memory (`data.streaming=False`, every split as numpy columns), for one epoch each: the ratio of their
peak RSS, preparation time and examples/s, and both AUCs (equal: the two paths prepare the same data). The last
lines:
  `epoch rows=.. wall_s=.. prepare_s=.. train_examples_per_s=.. peak_rss_gb=.. test_auc=..`
  `compare rows=.. rss_ratio=<in-memory/streamed> prepare_ratio=.. speed_ratio=<streamed/in-memory> auc_streamed=..
  auc_in_memory=..`
"""

import argparse
import json
import os
import subprocess
import sys

from rec_jax.data.generators.criteo_like import CriteoSpec, write

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "configs", "criteo_ctr.py")
BATCH = 4096
# Runs rec_jax.main in this child and records the child's own peak RSS (ru_maxrss, KB on Linux) beside its exit.
CHILD = ("import json, resource, runpy, sys\n"
         "out, sys.argv = sys.argv[1], ['rec_jax.main'] + sys.argv[2:]\n"
         "code = 0\n"
         "try:\n"
         "  runpy.run_module('rec_jax.main', run_name='__main__')\n"
         "except SystemExit as e:\n"
         "  code = e.code or 0\n"
         "json.dump({'code': code, 'peak_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, open(out, 'w'))\n"
         "sys.exit(code)\n")


def _args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--rows", type=int, default=45_000_000, help="impressions generated (Kaggle's train.txt: 45,840,617)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--eval_every", type=int, default=3000)
  p.add_argument("--compare_rows", type=int, default=2_000_000, help="0: no streamed vs in-memory comparison")
  p.add_argument("--no_epoch", action="store_true", help="only the comparison, not the epoch of --rows")
  return p.parse_args()


def _data(workdir: str, rows: int, seed: int) -> str:
  """The generated file of (rows, seed), written once."""
  path = os.path.join(workdir, f"criteo_{rows}_{seed}", "train.txt")
  if not os.path.exists(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print(json.dumps(write(CriteoSpec(rows=rows, seed=seed), path)), flush=True)
  return path


def train_rows(rows: int) -> int:
  """Rows of the random 8:1:1 split's train part (data/splits.py's cut: int(0.1 n) validation and test rows)."""
  return rows - 2 * int(0.1 * rows)


def run(workdir: str, data: str, rows: int, streaming: bool, eval_every: int, max_rows: int = 0) -> dict:
  """One epoch in a child; its results.json with the child's peak RSS and the preparation time."""
  steps = train_rows(rows) // BATCH
  os.makedirs(workdir, exist_ok=True)
  measure = os.path.join(workdir, "child.json")
  cmd = [sys.executable, "-c", CHILD, measure, f"--config={CONFIG}", f"--workdir={workdir}",
         f"--config.data.path={data}", f"--config.data.data_dir={os.path.join(workdir, 'tfds')}",
         f"--config.data.streaming={streaming}", f"--config.data.options.max_rows={max_rows}",
         f"--config.train.num_steps={steps}", f"--config.eval.every_steps={min(eval_every, steps)}",
         f"--config.checkpoint.every_steps={min(1000, steps)}"]
  print(" ".join(cmd[3:]), flush=True)
  with open(os.path.join(workdir, "run.log"), "a") as log:
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
  with open(measure) as f:
    child = json.load(f)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  results["peak_rss_gb"] = child["peak_rss_kb"] / 1e6
  results["prepare_s"] = (results["wall_time_s"] - results["train_seconds"] - results["eval_seconds"]
                          - results["final_eval_seconds"])
  results["examples_per_s"] = results["train_steps_per_s"] * BATCH
  return results


def main():
  args = _args()
  os.makedirs(args.workdir, exist_ok=True)
  data = _data(args.workdir, args.rows, args.seed)
  lines = []
  if args.compare_rows:
    both = {s: run(os.path.join(args.workdir, f"compare_{s}"), data, args.compare_rows, s, args.eval_every,
                   max_rows=args.compare_rows) for s in (True, False)}
    s, m = both[True], both[False]
    lines.append(f"compare rows={args.compare_rows} rss_ratio={m['peak_rss_gb'] / s['peak_rss_gb']:.2f} "
                 f"prepare_ratio={m['prepare_s'] / s['prepare_s']:.2f} "
                 f"speed_ratio={s['examples_per_s'] / m['examples_per_s']:.2f} "
                 f"auc_streamed={s['metrics']['auc']:.4f} auc_in_memory={m['metrics']['auc']:.4f} "
                 f"rss_streamed_gb={s['peak_rss_gb']:.2f} rss_in_memory_gb={m['peak_rss_gb']:.2f}")
  if not args.no_epoch:
    r = run(os.path.join(args.workdir, "epoch"), data, args.rows, True, args.eval_every)
    lines.insert(0, f"epoch rows={args.rows} wall_s={r['wall_time_s']:.0f} prepare_s={r['prepare_s']:.0f} "
                    f"train_examples_per_s={r['examples_per_s']:.0f} peak_rss_gb={r['peak_rss_gb']:.2f} "
                    f"test_auc={r['metrics']['auc']:.4f} test_logloss={r['metrics']['logloss']:.4f}")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
