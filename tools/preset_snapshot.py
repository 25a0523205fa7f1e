r"""python tools/preset_snapshot.py --out=/tmp/rec_jax/snapshot_after [--repo=.] [--only=zoo] [--compare=BEFORE.json]

Runs every preset of every config file in configs/ at `:smoke`, each through the command line
(`python -m rec_jax.main`, from the checkout `--repo`), and writes `<out>/snapshot.json`: per run, the test metrics
and the validation line of results.json. The real-data configs read tiny files in each official layout, written
once into `<out>/../snapshot_data/` by the tests' own fixture writers (so two snapshots read the very same files).

This is how a refactoring shows it changed no behaviour: snapshot the old checkout and the new one and
`--compare` them; every metric must be identical (same machine, same library versions).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

SEARCH = [f"{v},{m}" for v in ("shared", "separate", "noquery") for m in ("frozen", "lora", "random")]
ZOO = ("lr", "fm", "deepfm", "dnn", "dcn", "dcnv2", "autoint", "xdeepfm", "finalmlp", "din", "mf", "neumf",
       "hybrid", "mf_rating", "neumf_rating", "two_tower", "two_tower_text", "sasrec", "bert4rec", "seq_mean", "pop")
# (run name, config file, preset without `smoke`, data file or directory key or None).
RUNS = ([("synthetic", "synthetic.py", "", None)]
        + [(f"cold_start_text.{p}", "cold_start_text.py", p, None) for p in ("random", "frozen", "lora", "off")]
        + [(f"search.{p}", "search.py", p, None) for p in SEARCH]
        + [(f"zoo.{p}", "zoo.py", p, None) for p in ZOO]
        + [("movielens_rating", "movielens_rating.py", "", "ml-100k"),
           ("movielens_rating.neumf", "movielens_rating.py", "neumf", "ml-100k"),
           ("movielens_ctr", "movielens_ctr.py", "", "ml-1m"),
           ("movielens_ctr.random", "movielens_ctr.py", "random", "ml-1m"),
           ("movielens_ctr.notext", "movielens_ctr.py", "notext", "ml-100k"),
           ("movielens_ctr.csv", "movielens_ctr.py", "csv", "ml-latest-small"),
           ("sasrec_format", "sasrec_format.py", "", "toy.txt"),
           ("sasrec_format.bert4rec", "sasrec_format.py", "bert4rec", "toy.txt"),
           ("sasrec_format.full", "sasrec_format.py", "full", "toy.txt"),
           ("amazon_text_seq", "amazon_text_seq.py", "", "Toy"),
           ("amazon_text_seq.ids", "amazon_text_seq.py", "ids", "Toy"),
           ("amazon_text_seq.random", "amazon_text_seq.py", "random", "Toy"),
           ("amazon_text_seq.two_tower", "amazon_text_seq.py", "two_tower", "Toy"),
           ("amazon_text_seq.cold", "amazon_text_seq.py", "cold", "Toy"),
           ("amazon_text_seq.item_title", "amazon_text_seq.py", "item_title", "Toy"),
           ("criteo_ctr", "criteo_ctr.py", "", "criteo.txt"),
           ("criteo_ctr.hashed", "criteo_ctr.py", "hashed", "criteo.txt")])


def write_data(root: str) -> None:
  """The fixture files of the real-data configs (written once; later snapshots reuse them unchanged)."""
  if os.path.exists(os.path.join(root, "done")):
    return
  from tests import test_real_configs  # pylint: disable=import-outside-toplevel
  from tests.data.datasets import criteo_files, movielens_files  # pylint: disable=import-outside-toplevel
  movielens_files.write_100k(os.path.join(root, "ml-100k"), num_users=40, num_items=80, per_user=25)
  movielens_files.write_1m(os.path.join(root, "ml-1m"), num_users=60, num_items=80, per_user=25)
  movielens_files.write_csv(os.path.join(root, "ml-latest-small"), num_users=60, num_items=80, per_user=25)
  test_real_configs.write_sasrec_txt(os.path.join(root, "toy.txt"))
  toy = test_real_configs.write_unisrec(os.path.join(root, "Toy"))
  with open(os.path.join(toy, "Toy.item"), "w") as f:   # for the item_title preset
    f.write("item_id:token\ttitle:token_seq\n")
    f.writelines(f"{i}\ttitle of item {i}\n" for i in range(1, 31))
  criteo_files.write(os.path.join(root, "criteo.txt"), num_rows=600)
  open(os.path.join(root, "done"), "w").close()


def run_one(repo: str, out: str, data: str, name: str, config: str, preset: str, path) -> dict:
  workdir = os.path.join(out, "runs", name)
  command = [sys.executable, "-m", "rec_jax.main", f"--config=configs/{config}:{','.join(filter(None, [preset, 'smoke']))}",
             f"--workdir={workdir}", f"--config.data.data_dir={os.path.join(out, 'tfds')}"]
  if path:
    command.append(f"--config.data.path={os.path.join(data, path)}")
  start = time.time()
  done = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
  record = {"command": " ".join(command[1:]), "exit_code": done.returncode, "seconds": round(time.time() - start, 1)}
  results_path = os.path.join(workdir, "results.json")
  if done.returncode or not os.path.exists(results_path):
    record["error"] = (done.stderr.strip().splitlines() or ["?"])[-1]
    return record
  with open(results_path) as f:
    results = json.load(f)
  record.update(metrics=results["metrics"], validation=results.get("validation"), step=results.get("step"),
                evaluated_step=results.get("evaluated_step"))
  return record


def _same(a, b) -> bool:
  if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
    return True
  return a == b


def compare(before_path: str, after_path: str) -> int:
  with open(before_path) as f:
    before = json.load(f)
  with open(after_path) as f:
    after = json.load(f)
  bad = 0
  for name in before:
    b, a = before[name], after.get(name)
    if a is None:
      print(f"{name}: missing after")
      bad += 1
      continue
    if "metrics" not in b or "metrics" not in a:
      print(f"{name}: before {b.get('error', 'ok')} / after {a.get('error', 'ok')}")
      bad += "metrics" in b or "metrics" in a
      continue
    diff = [k for k in sorted(set(b["metrics"]) | set(a["metrics"]))
            if not _same(b["metrics"].get(k), a["metrics"].get(k))]
    vdiff = [k for k in sorted(set(b["validation"] or {}) | set(a["validation"] or {}))
             if not k.startswith("train/") and not _same((b["validation"] or {}).get(k), (a["validation"] or {}).get(k))]
    same = not diff and not vdiff and b["step"] == a["step"] and b["evaluated_step"] == a["evaluated_step"]
    bad += not same
    headline = {k: b["metrics"][k] for k in ("auc", "rmse", "hit@10", "ndcg@10") if k in b["metrics"]}
    print(f"{name}: {'identical' if same else 'DIFFERENT ' + str(diff + vdiff)[:300]} "
          f"({len(b['metrics'])} metrics; {json.dumps(headline)})")
  print(f"{len(before) - bad}/{len(before)} runs identical")
  return bad


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  parser.add_argument("--out", required=True)
  parser.add_argument("--repo", default=HERE, help="the checkout whose rec_jax and configs/ run")
  parser.add_argument("--only", default="", help="comma-separated prefixes of run names")
  parser.add_argument("--compare", default="", help="a snapshot.json to compare <out>/snapshot.json with")
  args = parser.parse_args()
  snapshot_path = os.path.join(args.out, "snapshot.json")
  if args.compare:
    return 1 if compare(args.compare, snapshot_path) else 0
  data = os.path.join(os.path.dirname(os.path.abspath(args.out)), "snapshot_data")
  write_data(data)
  snapshot = {}
  if os.path.exists(snapshot_path):
    with open(snapshot_path) as f:
      snapshot = json.load(f)
  only = tuple(p for p in args.only.split(",") if p)
  for name, config, preset, path in RUNS:
    if only and not name.startswith(only):
      continue
    snapshot[name] = run_one(os.path.abspath(args.repo), os.path.abspath(args.out), data, name, config, preset, path)
    print(name, snapshot[name].get("error") or f"ok in {snapshot[name]['seconds']} s", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(snapshot_path, "w") as f:
      json.dump(snapshot, f, indent=1, sort_keys=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
