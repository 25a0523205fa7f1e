r"""Our SASRec against RecBole's SASRec on the same sequence file, settings, epochs and CPU threads, in one run:
training samples/s, evaluation users/s, and both sides' validation and test metrics.

  python benchmarks/sequential_train.py --data=/path/to/Beauty.txt [--epochs=20] [--peer_python=...]

`--data`: a file in the ICLRec format (one line per user, `user item item ...` in time order), e.g. salesforce/
ICLRec `data/Beauty.txt`. RecBole runs in its own venv (`--peer_python`, default /work/peers/.venv/bin/python;
RecBole 1.2 needs numpy < 2 and setuptools < 70 there), as benchmarks/peers/recbole_sasrec.py; `--peer=none` runs
ours alone.

Both: leave-one-out (last item test, second-last validation), full ranking of the whole catalogue with the user's
earlier items excluded, hidden size 64, 2 blocks, 1 head, position-wise FFN 64 wide (the SASRec paper's; RecBole's
inner_size is set to match), max length 50, dropout `--dropout` on hidden states and attention weights, Adam with
constant lr 1e-3, full softmax (cross-entropy) over the items, `--epochs` epochs.

A *training sample* is one (prefix -> next item) prediction: RecBole trains one per train interaction after the
user's first (its data augmentation: each prefix is a row), ours trains the same predictions, all of a user's at
once on packed sequences (tasks/packed_sequences.py). So samples/s = predictions trained per second on both sides:
RecBole's len(train dataset) x epochs / the seconds of its `_train_epoch` calls; ours `targets_per_epoch` x epochs
/ `train_seconds` (results.json: the training loop without evaluation; it includes our compilation). Batches: ours
`--batch_rows` packed rows of 51 positions (about 45 predictions each), RecBole's `--peer_batch` samples.
Evaluation users/s: all test users ranked once, ours `final_eval_seconds` (the best checkpoint's test evaluation;
its functions are compiled by then), RecBole's one `trainer.evaluate` pass over the test users.
Prints both sides' JSON, then `train_ratio=<ours/recbole> eval_ratio=<ours/recbole>`, then `score_floor_s`: the
seconds of the bare score product and one rank count for the same users, items and width on this machine (no
evaluation can be faster; `max_eval_ratio` = RecBole's eval seconds / the floor), and the metrics side by side.
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
METRICS = ("hit@10", "ndcg@10", "hit@5", "ndcg@5", "mrr@10")


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data", required=True)
  p.add_argument("--epochs", type=int, default=20)
  p.add_argument("--dropout", type=float, default=0.5)
  p.add_argument("--batch_rows", type=int, default=64, help="our packed rows per step")
  p.add_argument("--peer_batch", type=int, default=2048, help="RecBole's train_batch_size (its default)")
  p.add_argument("--threads", type=int, default=os.cpu_count())
  p.add_argument("--peer", choices=["recbole", "none"], default="recbole")
  p.add_argument("--peer_python", default="/work/peers/.venv/bin/python")
  p.add_argument("--workdir", default="")
  return p.parse_args()


def run_ours(args, workdir: str) -> dict:
  """Trains configs/iclrec_seq.py for exactly `--epochs` epochs (early stopping off) in a child process."""
  overrides = {"data.path": os.path.abspath(args.data), "model.history_options.dropout": args.dropout,
               "train.batch_size": args.batch_rows, "train.early_stopping.patience": 0}
  flags = [f"--config.{k}={v}" for k, v in overrides.items()]
  # The epoch's number of packed rows, and so the steps of `--epochs` epochs, come from the data itself.
  probe = [sys.executable, "-c", (
      "import json, sys; from rec_jax.config.loader import load_config; from rec_jax.experiment import "
      "build_experiment; c = load_config(sys.argv[1]); c.update_from_flattened_dict(json.loads(sys.argv[3])); "
      "rows = build_experiment(c, sys.argv[2]).training_rows(); print('ROWS', len(rows), rows.num_targets)")]
  config = os.path.join(REPO, "configs", "iclrec_seq.py")
  os.makedirs(workdir + "_probe", exist_ok=True)
  out = subprocess.run(probe + [config, workdir + "_probe", json.dumps(overrides)], check=True,
                       capture_output=True, text=True, cwd=REPO).stdout
  rows, targets = (int(v) for v in out.split("ROWS")[-1].split())
  steps = args.epochs * (rows // args.batch_rows)
  flags += [f"--config.train.num_steps={steps}", f"--config.eval.every_steps={steps}",
            f"--config.checkpoint.every_steps={steps}"]
  subprocess.run([sys.executable, "-m", "rec_jax.main", f"--config={config}",
                  f"--workdir={workdir}", *flags], check=True, cwd=REPO, stdout=sys.stderr)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  samples = targets * steps * args.batch_rows / rows   # the predictions of the packed rows the steps trained
  return {"side": "rec_jax-SASRec", "epochs": args.epochs, "steps": steps, "training": results["training"],
          "train_samples": samples, "train_seconds": results["train_seconds"],
          "train_samples_per_s": samples / results["train_seconds"],
          "eval_users": results["metrics"]["num_queries"], "eval_seconds": results["final_eval_seconds"],
          "eval_users_per_s": results["metrics"]["num_queries"] / results["final_eval_seconds"],
          "test": {m: results["metrics"][m] for m in METRICS}, "valid": {m: results["validation"][m] for m in METRICS}}


def run_recbole(args, workdir: str) -> dict:
  cmd = [args.peer_python, os.path.join(HERE, "peers", "recbole_sasrec.py"), "--data", os.path.abspath(args.data),
         "--epochs", str(args.epochs), "--batch-size", str(args.peer_batch), "--inner", "64", "--heads", "1",
         "--layers", "2", "--hidden", "64", "--max-length", "50", "--hidden-dropout", str(args.dropout),
         "--attn-dropout", str(args.dropout), "--lr", "1e-3", "--loss", "CE", "--threads", str(args.threads),
         "--eval", "full", "--workdir", workdir]
  out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
  result = json.loads(out.split("RESULT", 1)[1])
  result["test"] = {k.lower(): v for k, v in result["test"].items()}
  result["valid"] = {k.lower(): v for k, v in result["valid"].items()}
  return result


def score_floor_seconds(users: int, items: int, dim: int, repeats: int = 3) -> float:
  """Seconds of the least any full-ranking evaluation must do on this machine: the [users, dim] x [dim, items]
  score product (jitted, float32, in blocks of users or all at once, whichever is faster) and one pass counting each user's items above
  a target. A ranking evaluation cannot be faster than this, so RecBole's eval seconds / this bounds the ratio."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  queries = jnp.asarray(rng.standard_normal((users, dim), np.float32))
  table = jnp.asarray(rng.standard_normal((items, dim), np.float32))

  @jax.jit
  def ranks(q):
    scores = q @ table.T
    return jnp.sum(scores > scores[:, :1], axis=1)

  def seconds(block: int) -> float:
    def run():
      return [ranks(queries[i:i + block]) for i in range(0, users, block)][-1].block_until_ready()
    run()
    start = time.perf_counter()
    for _ in range(repeats):
      run()
    return (time.perf_counter() - start) / repeats

  # Blocks of 16M scores (as evaluation/full_ranking.py), and all users at once (one big product): the faster.
  return min(seconds(max(1, (1 << 24) // items)), seconds(users))


def main():
  args = parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix="sequential_train_")
  ours = run_ours(args, os.path.join(workdir, "ours"))
  print(json.dumps(ours, sort_keys=True))
  if args.peer == "none":
    return
  theirs = run_recbole(args, os.path.join(workdir, "recbole"))
  print(json.dumps(theirs, sort_keys=True))
  print(f"train_ratio={ours['train_samples_per_s'] / theirs['train_samples_per_s']:.2f} "
        f"eval_ratio={ours['eval_users_per_s'] / theirs['eval_users_per_s']:.2f}")
  floor = score_floor_seconds(ours["eval_users"], theirs["settings"]["n_items"], theirs["settings"]["hidden"])
  print(f"score_floor_s={floor:.3f} (every user's scores against every item and one rank count, nothing else) "
        f"eval_s_ours={ours['eval_seconds']:.3f} eval_s_recbole={theirs['eval_seconds']:.3f} "
        f"max_eval_ratio={theirs['eval_seconds'] / floor:.2f}")
  for split in ("valid", "test"):
    print(f"{split}: " + " ".join(f"{m} ours={ours[split][m]:.4f} recbole={theirs[split].get(m, float('nan')):.4f}"
                                  for m in METRICS))


if __name__ == "__main__":
  main()
