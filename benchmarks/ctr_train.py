r"""Training examples/s and test AUC of our DCN-v2 against FuxiCTR's DCNv2 (PyTorch) on the same data and CPU threads.

  python benchmarks/ctr_train.py [--epochs N] [--quick]

Needs torch and fuxictr: `pip install -e ".[ref,bench]"` (fuxictr 2.3.10 does not pull torch). Runs offline: the
synthetic shop is generated locally (TFDS builder, `--data_dir`, kept there for later runs).

Data, the same integer ids on both sides: our `prepare_data` (vocabularies fitted on train) on the shop with 10
categorical fields, configs/synthetic.py's `features.categorical` plus `item_id` and `user_id` (price, text and
histories dropped); the train split is cut to a whole number of batches so both sides see exactly the same rows
every epoch (each in its own shuffled order). Test AUC and logloss of both are computed by
`rec_jax.evaluation.metrics` on the full test split after the same number of epochs.

Models, settings from FuxiCTR's model_zoo/DCNv2/config/model_config.yaml `DCNv2_default` (embedding_dim 40,
parallel_dnn_hidden_units [500, 500, 500], num_cross_layers 3, batch_size 10000, Adam lr 1e-3, no dropout, batch
norm or regularizers): ours is `HybridRecModel` with model.cross=dcnv2, use_text=False, use_cf=False, and
make_optimizer with constant lr, no weight decay, grad clip 10 (FuxiCTR's fit default); theirs is
benchmarks/_fuxictr_dcnv2.py, trained by FuxiCTR's `BaseModel.fit` over its npz `RankDataLoader` in a child
process (so no JAX thread pool sits beside torch's, and `--fuxictr_workers` can fork). Ours also has
a first-order linear term over the flat field embeddings (fields*dim weights) that FuxiCTR's DCNv2 lacks.

What is timed: blocks of `--block` consecutive train steps inside an epoch; the first `--skip` steps of the run
(our compilation, their first batches) and the first step of each later epoch (so FuxiCTR's end-of-epoch
validation and checkpoint are never inside a block) are left out. A block's time runs from the end of the step
before it to the end of its last step, so it holds each step's data loading too:
  - ours: `train_batch` (gather rows from numpy into a `Batch`), `shard_batch`, the jitted donated `train_step`;
    jax.block_until_ready only at block edges, so steps overlap within a block as in rec_jax/train.py;
  - theirs: the DataLoader's next batch (sampler, per-row `__getitem__`, collate) in `BaseModel.train_epoch`,
    `train_step` (forward, loss, backward, clip, Adam step) and its `loss.item()`.
examples/s = median over blocks of block rows / block time. Ours runs first, then FuxiCTR; torch gets the thread
count XLA uses (this process's CPUs); FuxiCTR's DataLoader workers default to 0 (its batches are made in the
training process, as ours are). Prints the config, each side's examples/s (and FuxiCTR's step-only rate, without
data loading), AUC and logloss, and ends with `ratio=<ours/fuxictr> auc_ours=<a> auc_fuxictr=<b>`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from flax import nnx

from rec_jax import parallel
from rec_jax.batch import FeatureArrays
from rec_jax.config.loader import load_config
from rec_jax.data.pipeline import train_batch
from rec_jax.evaluation import metrics
from rec_jax.evaluation.pointwise import predict_split
from rec_jax.experiment import Experiment, build_experiment
from rec_jax.text.frozen import count_parameters
from rec_jax.train_step import make_predict, make_train_step, step_key

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "..", "configs", "synthetic.py")
FUXICTR = os.path.join(HERE, "_fuxictr_dcnv2.py")
ID_FIELDS = ("item_id", "user_id")


def _args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--epochs", type=int, default=2)
  p.add_argument("--quick", action="store_true", help="tiny shop and model: an end-to-end smoke run, not a timing")
  p.add_argument("--embed_dim", type=int, default=None, help="default 40 (8 with --quick)")
  p.add_argument("--mlp", type=str, default=None, help="comma-separated hidden sizes; default 500,500,500")
  p.add_argument("--cross_layers", type=int, default=3)
  p.add_argument("--batch_size", type=int, default=None, help="default 10000 (256 with --quick)")
  p.add_argument("--learning_rate", type=float, default=1e-3)
  p.add_argument("--skip", type=int, default=None, help="untimed first steps; default 5 (2 with --quick)")
  p.add_argument("--block", type=int, default=4, help="steps per timed block")
  p.add_argument("--fuxictr_workers", type=int, default=0,
                 help="DataLoader worker processes for FuxiCTR; 0 keeps its data loading in this process like ours")
  p.add_argument("--embedding_std", type=float, default=1e-4,
                 help="std of both sides' normal embedding init (FuxiCTR's default 1e-4; rec_jax's default 0.05)")
  p.add_argument("--data_dir", default="~/tensorflow_datasets", help="TFDS dir where the shop is generated/kept")
  p.add_argument("--seed", type=int, default=0)
  return p.parse_args()


def _config(args):
  """configs/synthetic.py as a plain DCN-v2 over the categorical and id fields, with FuxiCTR's training rules."""
  config = load_config(CONFIG + (":smoke" if args.quick else ""))
  quick = args.quick
  config.seed = args.seed
  config.data.data_dir = args.data_dir
  f = config.features
  f.categorical = tuple(f.categorical) + ID_FIELDS
  f.numeric, f.text = (), ()
  m = config.model
  m.use_text, m.use_cf, m.cross, m.field_towers, m.history = False, False, "dcnv2", (), "none"
  m.cross_options.num_layers = args.cross_layers
  m.embed_dim = args.embed_dim or (8 if quick else 40)
  m.embedding_init_std = args.embedding_std
  m.mlp = tuple(int(h) for h in args.mlp.split(",")) if args.mlp else ((32, 32) if quick else (500, 500, 500))
  t = config.train
  t.batch_size = args.batch_size or (256 if quick else 10000)
  # Adam at a constant rate with FuxiCTR's fit() gradient clipping; no decay, warm-up or per-tower rates.
  t.learning_rate, t.warmup_steps, t.final_lr_fraction = args.learning_rate, 0, 1.0
  t.weight_decay, t.embedding_decay, t.lr_multipliers, t.grad_clip_norm = 0.0, 0.0, {}, 10.0
  config.eval.batch_size = t.batch_size
  return config


def _whole_batches(arrays: FeatureArrays, batch_size: int) -> FeatureArrays:
  return arrays.select(np.arange(len(arrays) // batch_size * batch_size))


def timed_blocks(steps_per_epoch: int, epochs: int, skip: int, block: int):
  """[(first, end)) global step ranges that are timed: within one epoch, after `skip` steps in the first epoch and
  after the first step of every later one."""
  blocks = []
  for epoch in range(epochs):
    first = skip if epoch == 0 else 1
    for start in range(max(first, 1), steps_per_epoch - block + 1, block):
      blocks.append((epoch * steps_per_epoch + start, epoch * steps_per_epoch + start + block))
  if not blocks:
    sys.exit(f"error: no timed block: {steps_per_epoch} steps/epoch, --skip {skip}, --block {block}; "
             "use more data, a smaller --batch_size or --block")
  return blocks


def _rates(ends, blocks, batch_size: int):
  """examples/s of each block from the end times of its steps and of the step before it."""
  return [(end - start) * batch_size / (ends[end - 1] - ends[start - 1]) for start, end in blocks]


def train_ours(run: Experiment, train: FeatureArrays, test: FeatureArrays, blocks, num_steps: int):
  """Our training loop (rec_jax/train.py without evaluation and checkpoints); returns (block rates, test probs,
  parameter count, last train loss)."""
  config, task = run.config, run.task
  mesh = parallel.make_mesh(config.parallel.num_devices)
  parallel.check_batch_size(config.train.batch_size, mesh)
  graphdef, params, frozen = nnx.split(run.model, nnx.Param, ...)
  num_parameters = count_parameters(params)
  tx = run.optimizer()
  params, frozen, opt_state = parallel.replicate((params, frozen, tx.init(params)), mesh)
  train_step = make_train_step(graphdef, tx, task, mesh, run.task_options)
  sync_after = {start - 1 for start, _ in blocks} | {end - 1 for _, end in blocks}
  ends = {}
  for step in range(num_steps):
    batch = train_batch(train, step, config.train.batch_size, config.seed)
    params, opt_state, train_metrics = train_step(params, frozen, opt_state,
                                                  parallel.shard_batch(batch, mesh),
                                                  step_key(config.seed, step))
    if step in sync_after:
      jax.block_until_ready((params, opt_state))
      ends[step] = time.perf_counter()
  predict = make_predict(graphdef, task, mesh)
  probs = predict_split(lambda b: predict(params, frozen, parallel.shard_batch(b, mesh)), test,
                        config.eval.batch_size)
  return _rates(ends, blocks, config.train.batch_size), probs, num_parameters, float(train_metrics["loss"])


def train_fuxictr(args, config, splits, fields, vocab_sizes, blocks, threads: int, workdir: str):
  """FuxiCTR's DCNv2 on npz copies of the same id arrays, in a child process (benchmarks/_fuxictr_dcnv2.py);
  returns (block rates, step-only rates, test probs, parameter count)."""
  data_dir = os.path.join(workdir, "fuxictr_data")
  os.makedirs(data_dir)
  for name, arrays in splits.items():
    np.savez(os.path.join(data_dir, f"{name}.npz"), label=arrays.rows.label,
             **{f: arrays.rows.categorical[f] for f in fields})
  m, batch = config.model, config.train.batch_size
  spec = dict(data_dir=data_dir, model_root=os.path.join(workdir, "fuxictr_checkpoints"), threads=threads,
              result=os.path.join(workdir, "fuxictr_result.npz"), vocab_sizes={f: vocab_sizes[f] for f in fields},
              train=dict(epochs=args.epochs, batch_size=batch, num_workers=args.fuxictr_workers, seed=config.seed),
              model=dict(embedding_dim=m.embed_dim, parallel_dnn_hidden_units=list(m.mlp),
                         num_cross_layers=m.cross_options["num_layers"], learning_rate=config.train.learning_rate,
                         embedding_std=args.embedding_std))
  spec_path = os.path.join(workdir, "fuxictr_spec.json")
  with open(spec_path, "w") as f:
    json.dump(spec, f)
  subprocess.run([sys.executable, FUXICTR, spec_path], check=True)
  run = np.load(spec["result"])
  steps_per_epoch = len(splits["train"]) // batch
  if int(run["steps_per_epoch"]) != steps_per_epoch or len(run["step_ends"]) != steps_per_epoch * args.epochs:
    raise RuntimeError(f"FuxiCTR ran {len(run['step_ends'])} steps ({int(run['steps_per_epoch'])}/epoch); "
                       f"expected {steps_per_epoch * args.epochs} ({steps_per_epoch}/epoch)")
  step_only = [(end - start) * batch / run["step_seconds"][start:end].sum() for start, end in blocks]
  return _rates(run["step_ends"], blocks, batch), step_only, run["test_probs"], int(run["num_parameters"])


def _summary(rates) -> str:
  return f"median {statistics.median(rates):,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f}, {len(rates)} blocks)"


def main():
  args = _args()
  threads = len(os.sched_getaffinity(0))
  config = _config(args)
  fields = tuple(config.features.categorical)
  with tempfile.TemporaryDirectory(prefix="ctr_train_") as workdir:
    t0 = time.perf_counter()
    run = build_experiment(config, workdir)
    data, vocab_sizes = run.data, run.data.vocab_sizes()
    batch = config.train.batch_size
    train = _whole_batches(data.splits["train"], batch)
    test = data.splits["test"]
    splits = {"train": train, "validation": data.splits["validation"], "test": test}
    steps_per_epoch = len(train) // batch
    num_steps = steps_per_epoch * args.epochs
    skip = args.skip if args.skip is not None else (2 if args.quick else 5)
    blocks = timed_blocks(steps_per_epoch, args.epochs, skip, args.block)
    print(f"data: synthetic shop {dict(config.data.shop)}, prepared in {time.perf_counter() - t0:.1f}s")
    print(f"fields ({len(fields)}): " + ", ".join(f"{f}[{vocab_sizes[f]}]" for f in fields))
    print(f"rows: train {len(train)} (cut to whole batches), validation {len(splits['validation'])}, test {len(test)}; "
          f"test positives {test.rows.label.mean():.3f}")
    print(f"model: embed_dim {config.model.embed_dim}, mlp {list(config.model.mlp)}, cross layers "
          f"{config.model.cross_options['num_layers']} (full rank, parallel); Adam lr {config.train.learning_rate} "
          f"constant, grad clip {config.train.grad_clip_norm}; batch {batch}; epochs {args.epochs} "
          f"({steps_per_epoch} steps each); embedding init normal std {args.embedding_std} on both sides")
    print(f"threads: XLA {jax.devices()[0].platform} x{len(jax.devices())} device(s) over {threads} CPUs, "
          f"torch.set_num_threads({threads}), FuxiCTR DataLoader workers {args.fuxictr_workers}; "
          f"timed: {len(blocks)} blocks of {args.block} steps, first {skip} steps untimed")

    t0 = time.perf_counter()
    ours, ours_probs, ours_params, ours_loss = train_ours(run, train, test, blocks, num_steps)
    print(f"ours    ({ours_params:,} params): examples/s {_summary(ours)}; last train loss {ours_loss:.4f}; "
          f"wall {time.perf_counter() - t0:.1f}s incl. compile and test")
    t0 = time.perf_counter()
    theirs, theirs_step, theirs_probs, theirs_params = train_fuxictr(args, config, splits, fields, vocab_sizes,
                                                                     blocks, threads, workdir)
    print(f"fuxictr ({theirs_params:,} params): examples/s {_summary(theirs)}; "
          f"train_step alone {_summary(theirs_step)}; "
          f"wall {time.perf_counter() - t0:.1f}s incl. validation, checkpoints and test")

  labels = test.rows.label
  auc_ours, auc_theirs = metrics.auc(labels, ours_probs), metrics.auc(labels, theirs_probs)
  oracle = f", oracle auc {metrics.auc(labels, test.rows.oracle):.4f}" if test.rows.oracle is not None else ""
  print(f"test after {args.epochs} epochs: ours auc {auc_ours:.4f} logloss {metrics.logloss(labels, ours_probs):.4f}; "
        f"fuxictr auc {auc_theirs:.4f} logloss {metrics.logloss(labels, theirs_probs):.4f}{oracle}")
  ratio = statistics.median(ours) / statistics.median(theirs)
  print(f"ratio={ratio:.2f} auc_ours={auc_ours:.4f} auc_fuxictr={auc_theirs:.4f}")


if __name__ == "__main__":
  main()
