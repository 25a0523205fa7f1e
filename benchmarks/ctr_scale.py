r"""Criteo-scale CTR training: our DCN-v2 (sparse row-wise id-table updates) against FuxiCTR's DCNv2 (PyTorch, dense
Adam over its embedding tables) on the same generated Criteo file, ids, threads and settings, with >= 10M
embedding rows; then our throughput as the tables grow (1M / 10M / 30M rows).

  python benchmarks/ctr_scale.py [--rows 1000000] [--table_rows 10000000] [--scaling 1000000,10000000,30000000]
                                 [--sparse lazy_adam] [--epochs 1] [--quick]

Needs fuxictr and torch for the peer: `pip install -e '.[ref,bench]'` (fuxictr 2.3.10 imports pyarrow, which needs
numpy 2, so it does not run in the RecBole venv of benchmarks/peers/); `--peer_python` runs it with another
interpreter. Runs offline.

Data: `rec_jax.data.generators.criteo_like` writes `--rows` impressions in the Kaggle `train.txt` format (26 hashed
categorical and 13 integer columns, heavy-tailed ids, a planted click model whose Bayes AUC it reports); our real
Criteo loader reads it (configs/criteo_ctr.py: governance, a random 8:1:1 split), and the feature processor turns
all 39 columns into ids: the large categorical fields hashed into buckets sized so the 39 tables hold
`--table_rows` rows in total (the proportions of Criteo's own vocabularies, `scaled_vocab`), the small ones and the
13 integers (as categories, as FuxiCTR's Criteo recipes bucket them) fitted on train. Both sides get exactly these
ids: ours from npz in a child process (benchmarks/_rec_jax_ctr.py), FuxiCTR from the same npz through its own
`RankDataLoader` and `BaseModel.fit` (benchmarks/_fuxictr_dcnv2.py). The train split is cut to whole batches.

Model and training, both sides: DCNv2 (parallel: cross network + MLP), embedding 16, `--mlp` 400,400,400, 3 cross
layers, Adam lr 1e-3 constant, gradient clip 10, no weight decay, batch 4096, embedding init normal std 1e-4
(FuxiCTR's default), `--epochs` epochs. Ours updates the id tables with `train.sparse_embeddings` (`--sparse`:
lazy_adam by default; rec_jax/row_optimizers.py) and the rest with Adam; FuxiCTR's Adam updates every row of every
table on every step (its default, `nn.Embedding` without sparse gradients).

Measured per side, each in its own child process: examples/s (median over timed blocks of `--block` steps; the first
`--skip` steps of compilation/warm-up are not timed; a block's time includes its steps' batch making), peak RSS of
the child (ru_maxrss), test AUC and logloss after the same epochs. The last line:
`ratio=<ours/fuxictr examples/s> auc_ours=.. auc_fuxictr=.. rss_ours_gb=.. rss_fuxictr_gb=..`; then one line per
`--scaling` size: `scaling table_rows=.. examples_per_s=.. rss_gb=..` (ours only, on the same rows).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ctr_train import timed_blocks  # pylint: disable=import-error  (benchmarks/ is the script's directory)
from rec_jax.config.loader import load_config
from rec_jax.data.generators.criteo_like import CriteoSpec, scaled_vocab, write
from rec_jax.evaluation import metrics
from rec_jax.experiment import build_experiment

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "configs", "criteo_ctr.py")
OURS, FUXICTR = os.path.join(HERE, "_rec_jax_ctr.py"), os.path.join(HERE, "_fuxictr_dcnv2.py")
CATEGORICAL = tuple(f"C{k}" for k in range(1, 27))
INTEGER = tuple(f"I{k}" for k in range(1, 14))
# Fields with more ids than this (in --table_rows' proportions) are hashed; the others are fitted vocabularies.
HASH_ABOVE = 50_000


def _args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--rows", type=int, default=1_000_000, help="impressions generated (8:1:1 train/validation/test)")
  p.add_argument("--table_rows", type=int, default=10_000_000, help="embedding rows of the 39 tables, both sides")
  p.add_argument("--scaling", default="1000000,10000000,30000000",
                 help="comma-separated table sizes for our throughput alone ('' to skip)")
  p.add_argument("--scaling_steps", type=int, default=60, help="steps of each scaling run")
  p.add_argument("--sparse", default="lazy_adam", help="our train.sparse_embeddings ('' for dense AdamW)")
  p.add_argument("--epochs", type=int, default=1)
  p.add_argument("--batch_size", type=int, default=4096)
  p.add_argument("--embed_dim", type=int, default=16)
  p.add_argument("--mlp", default="400,400,400")
  p.add_argument("--cross_layers", type=int, default=3)
  p.add_argument("--learning_rate", type=float, default=1e-3)
  p.add_argument("--embedding_std", type=float, default=1e-4)
  p.add_argument("--skip", type=int, default=5)
  p.add_argument("--block", type=int, default=10)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--peer", default="fuxictr", choices=("fuxictr", "none"))
  p.add_argument("--peer_python", default=sys.executable, help="interpreter of FuxiCTR's child process")
  p.add_argument("--workdir", default="", help="keep the generated file and arrays here (default: a temp dir)")
  p.add_argument("--quick", action="store_true", help="tiny sizes: an end-to-end smoke run, not a measurement")
  args = p.parse_args()
  if args.quick:
    args.rows, args.table_rows, args.batch_size, args.mlp = 20_000, 500_000, 512, "32,32"
    args.scaling, args.scaling_steps, args.skip, args.block = "300000,600000", 12, 2, 4
  return args


def buckets_for(table_rows: int) -> dict:
  """Hash buckets of the large categorical fields, Criteo's proportions, so the tables hold about `table_rows`."""
  sizes = dict(zip(CATEGORICAL, scaled_vocab(table_rows)))
  return {f: n for f, n in sizes.items() if n > HASH_ABOVE}


def our_config(args, data_file: str, data_dir: str, buckets: dict):
  c = load_config(CONFIG)
  c.seed = args.seed
  c.data.path, c.data.data_dir = data_file, data_dir
  c.features.categorical, c.features.numeric = CATEGORICAL + INTEGER, ()
  c.features.hash_buckets = dict(buckets)
  c.features.min_count = 1
  m = c.model
  m.embed_dim, m.mlp, m.embedding_init_std = args.embed_dim, tuple(int(h) for h in args.mlp.split(",")), args.embedding_std
  m.cross_options.num_layers = args.cross_layers
  t = c.train
  t.batch_size, t.learning_rate, t.warmup_steps, t.final_lr_fraction = args.batch_size, args.learning_rate, 0, 1.0
  t.weight_decay, t.embedding_decay, t.lr_multipliers, t.grad_clip_norm = 0.0, 0.0, {}, 10.0
  t.sparse_embeddings = args.sparse
  c.eval.batch_size = args.batch_size
  c.parallel.num_devices = 1
  return c


def prepare(args, data_file: str, workdir: str, table_rows: int, tag: str):
  """Our loader and feature processor on the file, with the tables sized for `table_rows`; the splits' ids saved as
  npz for both sides. Returns (config, fields, vocab sizes, npz dir, {split: rows}, seconds)."""
  t0 = time.perf_counter()
  config = our_config(args, data_file, os.path.join(workdir, "tfds"), buckets_for(table_rows))
  run_dir = os.path.join(workdir, f"run_{tag}")
  os.makedirs(run_dir, exist_ok=True)
  data = build_experiment(config, run_dir).data
  fields = list(config.features.categorical)
  vocab = {f: int(data.vocab_sizes()[f]) for f in fields}
  out = os.path.join(workdir, f"npz_{tag}")
  os.makedirs(out, exist_ok=True)
  sizes = {}
  for name in ("train", "validation", "test"):
    rows = data.splits[name].rows
    n = len(rows) // args.batch_size * args.batch_size if name == "train" else len(rows)
    np.savez(os.path.join(out, f"{name}.npz"), label=rows.label[:n], **{f: rows.categorical[f][:n] for f in fields})
    sizes[name] = n
  return config, fields, vocab, out, sizes, time.perf_counter() - t0


def _child(python: str, script: str, spec: dict, workdir: str, name: str):
  spec_path = os.path.join(workdir, f"{name}_spec.json")
  with open(spec_path, "w") as f:
    json.dump(spec, f)
  subprocess.run([python, script, spec_path], check=True)
  return np.load(spec["result"])


def _block_rates(ends_by_step, blocks, batch_size):
  return [(end - start) * batch_size / (ends_by_step[end - 1] - ends_by_step[start - 1]) for start, end in blocks]


def run_ours(args, config, fields, vocab, npz, num_steps, blocks, workdir, name):
  sync = sorted({s - 1 for s, _ in blocks} | {e - 1 for _, e in blocks})
  spec = dict(config=json.loads(config.to_json_best_effort()), fields=fields, vocab_sizes=vocab, data_dir=npz,
              num_steps=num_steps, sync_after=sync, result=os.path.join(workdir, f"{name}_result.npz"))
  r = _child(sys.executable, OURS, spec, workdir, name)
  ends = dict(zip(r["synced_steps"].tolist(), r["step_ends"].tolist()))
  return _block_rates(ends, blocks, args.batch_size), r


def run_fuxictr(args, config, fields, vocab, npz, blocks, threads, workdir):
  m = config.model
  spec = dict(data_dir=npz, model_root=os.path.join(workdir, "fuxictr_checkpoints"), threads=threads,
              result=os.path.join(workdir, "fuxictr_result.npz"), vocab_sizes=vocab,
              train=dict(epochs=args.epochs, batch_size=args.batch_size, num_workers=0, seed=args.seed),
              model=dict(embedding_dim=m.embed_dim, parallel_dnn_hidden_units=list(m.mlp),
                         num_cross_layers=args.cross_layers, learning_rate=args.learning_rate,
                         embedding_std=args.embedding_std))
  r = _child(args.peer_python, FUXICTR, spec, workdir, "fuxictr")
  ends = dict(enumerate(r["step_ends"].tolist()))
  return _block_rates(ends, blocks, args.batch_size), r


def _oracle_auc(data_file: str, oracle_file: str) -> float:
  """AUC of the generator's planted probabilities (one per line) against the file's labels (each line's first
  byte): the ceiling of any model on this data."""
  with open(data_file, "rb") as f:
    labels = np.array([line[:1] == b"1" for line in f])
  return metrics.auc(labels, np.load(oracle_file))


def _median(rates) -> str:
  return f"median {statistics.median(rates):,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f}, {len(rates)} blocks)"


def _gb(result) -> float:
  return float(result["peak_rss_kb"]) / 2 ** 20


def main():
  args = _args()
  threads = len(os.sched_getaffinity(0))
  with tempfile.TemporaryDirectory(prefix="ctr_scale_") as tmp:
    workdir = os.path.expanduser(args.workdir) or tmp
    os.makedirs(workdir, exist_ok=True)
    data_file = os.path.join(workdir, "train.txt")
    oracle_file = os.path.join(workdir, "oracle.npy")
    if not os.path.exists(data_file):
      summary = write(CriteoSpec(rows=args.rows, seed=args.seed), data_file, oracle_path=oracle_file)
      print(f"data: {summary['rows']:,} generated Criteo-format rows (ctr {summary['ctr']:.4f}) in "
            f"{summary['seconds']:.1f}s; Bayes AUC of the planted click probabilities over the file "
            f"{_oracle_auc(data_file, oracle_file):.4f}")
    config, fields, vocab, npz, sizes, seconds = prepare(args, data_file, workdir, args.table_rows, "main")
    total = sum(vocab.values())
    print(f"prepared by our Criteo loader in {seconds:.1f}s: rows {sizes}; {len(fields)} tables, {total:,} embedding "
          f"rows (hashed: {', '.join(f'{f}[{vocab[f]:,}]' for f in sorted(buckets_for(args.table_rows)))})")
    steps_per_epoch = sizes["train"] // args.batch_size
    num_steps = steps_per_epoch * args.epochs
    blocks = timed_blocks(steps_per_epoch, args.epochs, args.skip, args.block)
    print(f"model: DCNv2 embed {args.embed_dim}, mlp {args.mlp}, {args.cross_layers} cross layers; Adam lr "
          f"{args.learning_rate} constant, clip 10; batch {args.batch_size}; {args.epochs} epoch(s) of "
          f"{steps_per_epoch} steps; ours train.sparse_embeddings={args.sparse!r}; {threads} CPU threads each side; "
          f"timed: {len(blocks)} blocks of {args.block} steps after {args.skip}")
    labels = np.load(os.path.join(npz, "test.npz"))["label"]
    t0 = time.perf_counter()
    ours, r_ours = run_ours(args, config, fields, vocab, npz, num_steps, blocks, workdir, "ours")
    auc_ours, ll_ours = metrics.auc(labels, r_ours["test_probs"]), metrics.logloss(labels, r_ours["test_probs"])
    print(f"ours    ({int(r_ours['num_parameters']):,} params): examples/s {_median(ours)}; peak RSS "
          f"{_gb(r_ours):.2f} GB; test auc {auc_ours:.4f} logloss {ll_ours:.4f}; wall {time.perf_counter() - t0:.0f}s")
    if args.peer == "fuxictr":
      t0 = time.perf_counter()
      theirs, r_theirs = run_fuxictr(args, config, fields, vocab, npz, blocks, threads, workdir)
      auc_theirs = metrics.auc(labels, r_theirs["test_probs"])
      print(f"fuxictr ({int(r_theirs['num_parameters']):,} params): examples/s {_median(theirs)}; peak RSS "
            f"{_gb(r_theirs):.2f} GB; test auc {auc_theirs:.4f} logloss "
            f"{metrics.logloss(labels, r_theirs['test_probs']):.4f}; wall {time.perf_counter() - t0:.0f}s "
            "(incl. its validation and checkpoint)")
      print(f"ratio={statistics.median(ours) / statistics.median(theirs):.2f} auc_ours={auc_ours:.4f} "
            f"auc_fuxictr={auc_theirs:.4f} rss_ours_gb={_gb(r_ours):.2f} rss_fuxictr_gb={_gb(r_theirs):.2f}")
    for size in [int(float(s)) for s in args.scaling.split(",") if s]:
      cfg, fields_s, vocab_s, npz_s, sizes_s, _ = prepare(args, data_file, workdir, size, f"scale{size}")
      steps = min(args.scaling_steps, sizes_s["train"] // args.batch_size)
      blocks_s = timed_blocks(steps, 1, args.skip, args.block)
      rates, r = run_ours(args, cfg, fields_s, vocab_s, npz_s, steps, blocks_s, workdir, f"scale{size}")
      print(f"scaling table_rows={sum(vocab_s.values()):,} examples_per_s={statistics.median(rates):,.0f} "
            f"rss_gb={_gb(r):.2f}")


if __name__ == "__main__":
  main()
