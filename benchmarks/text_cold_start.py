r"""Text and cold items on real data: configs/amazon_text_seq.py's default (SASRec over id + frozen MiniLM text
item vectors) against the ids-only SASRec, the same model with random-init text, and RecBole's SASRec, on one
UniSRec-format Amazon dataset, in one run.

  python benchmarks/text_cold_start.py --data=/path/to/Scientific [--variants=minilm,ids,random] [--peer=recbole]

`--data`: a UniSRec / RecBole directory `<name>/` with `<name>.{train,valid,test}.inter` (`user_id item_id_list
item_id`) and `<name>.text` (+ `.item2index` when the text is keyed by raw ids), e.g. UniSRec's downstream
"Scientific". Two protocols, each a row group of the table:
- `standard`: UniSRec's own split (leave-one-out: each user's last item is the test, the second-last the
  validation); full ranking of the catalogue, the user's earlier items excluded. A test item that occurs in no
  training row is cold (few: the data are 5-core);
- `cold` (the config's `:cold` preset): the same rows with 10 % of the items held out of training entirely (each
  held-out item's rows go to validation or to test), so about a quarter of the test queries are cold items.
Each of ours is `python -m rec_jax.main --config=configs/amazon_text_seq.py[:preset]` with its defaults (early
stopping on validation ndcg@10); its test metrics are the best validation checkpoint's. Variants: `minilm` (the
default), `ids` (`:ids`), `random` (`:random`: MiniLM's architecture with random weights, frozen),
`two_tower` (`:two_tower`).

RecBole's SASRec (benchmarks/peers/recbole_sasrec.py in the peers' venv, `--peer_python`) runs on the standard
protocol only: the test file's rows are each user's whole sequence (history + test item), written as one line per
user, which RecBole splits leave-one-out by time exactly as UniSRec did; RecBole's own fit with early stopping on
validation NDCG@10 (`--peer_stopping`), hidden 64, 2 blocks, 1 head, dropout 0.5, CE loss, lr 1e-3.

Each of ours runs once per `--seeds` seed; the table shows mean ± std over them (hit@10, ndcg@10, their /cold
slices, cold and all test queries, validation ndcg@10, seconds per run), then one line with the standard
protocol's ndcg@10 per model (`ndcg_minilm=... ndcg_ids=... ndcg_sasrec=...`, the last RecBole's), the cold
protocol's (`cold_ndcg_<model>`) and its cold slice's (`cold_slice_ndcg_<model>`).
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
CONFIG = os.path.join(REPO, "configs", "amazon_text_seq.py")
PRESETS = {"minilm": "", "ids": "ids", "random": "random", "two_tower": "two_tower"}
PROTOCOLS = {"standard": "", "cold": "cold"}
COLUMNS = ("hit@10", "ndcg@10", "hit@10/cold", "ndcg@10/cold")


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data", required=True, help="the UniSRec dataset directory")
  p.add_argument("--variants", default="minilm,ids,random", help=f"comma-separated, of {sorted(PRESETS)}")
  p.add_argument("--protocols", default="standard,cold", help=f"comma-separated, of {sorted(PROTOCOLS)}")
  p.add_argument("--seeds", default="0,1,2", help="comma-separated: each of ours runs once per seed (`:seed=N`)")
  p.add_argument("--override", action="append", default=[], help="key=value for every run of ours")
  p.add_argument("--workdir", default="", help="default: a new temporary directory")
  p.add_argument("--peer", choices=("recbole", "none"), default="recbole")
  p.add_argument("--peer_python", default="/work/peers/.venv/bin/python")
  p.add_argument("--peer_epochs", type=int, default=300, help="RecBole's epoch budget (its default)")
  p.add_argument("--peer_stopping", type=int, default=10, help="RecBole's stopping_step (its default)")
  p.add_argument("--threads", type=int, default=os.cpu_count())
  return p.parse_args()


def run_ours(args, variant: str, protocol: str, seed: int, workdir: str) -> dict:
  presets = ",".join(p for p in (PRESETS[variant], PROTOCOLS[protocol], f"seed={seed}" if seed else "") if p)
  config = CONFIG + (f":{presets}" if presets else "")
  start = time.perf_counter()
  subprocess.run([sys.executable, "-m", "rec_jax.main", f"--config={config}", f"--workdir={workdir}",
                  f"--config.data.path={os.path.abspath(args.data)}", *(f"--config.{o}" for o in args.override)],
                 check=True, cwd=REPO, stdout=sys.stderr)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  m = results["metrics"]
  return {**{k: m.get(k, float("nan")) for k in COLUMNS}, "cold_queries": m.get("num_queries/cold", 0),
          "queries": m["num_queries"], "seconds": time.perf_counter() - start,
          "valid_ndcg@10": results.get("validation", {}).get("ndcg@10", float("nan"))}


def sequences_file(data: str, out: str) -> str:
  """UniSRec's test rows (user, whole history, test item) as one `user item item ...` line per user."""
  name = os.path.basename(os.path.normpath(data))
  with open(os.path.join(data, f"{name}.test.inter")) as src, open(out, "w") as dst:
    next(src)
    for line in src:
      user, history, item = line.rstrip("\n").split("\t")
      dst.write(" ".join([user, *history.split(), item]) + "\n")
  return out


def run_recbole(args, workdir: str) -> dict:
  os.makedirs(workdir, exist_ok=True)
  name = os.path.basename(os.path.normpath(args.data))
  path = sequences_file(args.data, os.path.join(workdir, f"{name}.txt"))
  start = time.perf_counter()
  out = subprocess.run([args.peer_python, os.path.join(HERE, "peers", "recbole_sasrec.py"), "--data", path,
                        "--epochs", str(args.peer_epochs), "--stopping-step", str(args.peer_stopping),
                        "--threads", str(args.threads), "--workdir", os.path.join(workdir, "recbole")],
                       check=True, capture_output=True, text=True)
  sys.stderr.write(out.stderr[-3000:])
  result = json.loads(next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))[len("RESULT "):])
  test = result["test"]
  return {"hit@10": test["hit@10"], "ndcg@10": test["ndcg@10"], "hit@10/cold": float("nan"),
          "ndcg@10/cold": float("nan"), "cold_queries": 0, "queries": result["eval_users"],
          "seconds": time.perf_counter() - start, "valid_ndcg@10": result["valid"]["ndcg@10"],
          "epochs": result["epochs"]}


def mean_std(runs) -> dict:
  """Each key's mean over the runs, and `<key>_std` (0 for one run)."""
  out = {}
  for key in runs[0]:
    values = [r[key] for r in runs]
    mean = sum(values) / len(values)
    out[key] = mean
    out[key + "_std"] = (sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)) ** 0.5
  return out


def cell(r: dict, key: str) -> str:
  if r[key] != r[key]:   # NaN: the row has no such slice
    return "-"
  return f"{r[key]:.4f}" + (f" ± {r[key + '_std']:.4f}" if r.get(key + "_std") else "")


def main():
  args = parse_args()
  variants, protocols = args.variants.split(","), args.protocols.split(",")
  for v in variants:
    if v not in PRESETS:
      raise SystemExit(f"error: --variants: {v!r} is not one of {sorted(PRESETS)}")
  for p in protocols:
    if p not in PROTOCOLS:
      raise SystemExit(f"error: --protocols: {p!r} is not one of {sorted(PROTOCOLS)}")
  seeds = [int(s) for s in args.seeds.split(",")]
  root = args.workdir or tempfile.mkdtemp(prefix="text_cold_start_")
  rows = {}
  for protocol in protocols:
    for variant in variants:
      runs = [run_ours(args, variant, protocol, seed, os.path.join(root, f"{protocol}_{variant}_seed{seed}"))
              for seed in seeds]
      rows[(protocol, f"rec_jax {variant}")] = mean_std(runs)
  if args.peer == "recbole" and "standard" in protocols:
    rows[("standard", "RecBole SASRec")] = mean_std([run_recbole(args, os.path.join(root, "recbole"))])
  print(f"\ndata: {os.path.abspath(args.data)}; workdir: {root}; ours: mean ± std over seeds {seeds}\n")
  print("| protocol | model | hit@10 | ndcg@10 | hit@10/cold | ndcg@10/cold | cold / all queries | val ndcg@10 "
        "| s/run |")
  print("|---|---|---|---|---|---|---|---|---|")
  for (protocol, model), r in rows.items():
    cells = " | ".join(cell(r, k) for k in COLUMNS)
    print(f"| {protocol} | {model} | {cells} | {r['cold_queries']:.0f} / {r['queries']:.0f} | "
          f"{cell(r, 'valid_ndcg@10')} | {r['seconds']:.0f} |")
  line = []
  for (protocol, model), r in rows.items():
    key = model.split()[-1].lower()
    line.append(f"{'cold_' if protocol == 'cold' else ''}ndcg_{key}={r['ndcg@10']:.4f}")
    if protocol == "cold":
      line.append(f"cold_slice_ndcg_{key}={r['ndcg@10/cold']:.4f}")
  print(" ".join(line))


if __name__ == "__main__":
  main()
