r"""Our side of benchmarks/ctr_scale.py, run by it in a child process (so its peak RSS is its own, as FuxiCTR's is):

  python benchmarks/_rec_jax_ctr.py <spec.json>

The spec names a data dir holding `<split>.npz` (one int id column per field, float `label`: the arrays our
`prepare_data` made from the Criteo-format file), the resolved config (config.json of the run it stands for), the
field vocabulary sizes, the number of steps and the timed blocks. The child builds the model as a run does
(`build_model`), trains with rec_jax's jitted, donated train step (`make_train_step`, with the config's optimizer:
dense AdamW or `train.sparse_embeddings`), and saves the end time of each timed step, the test predictions, the
parameter count and its peak RSS to the spec's `result` npz.
"""

import json
import resource
import sys
import time

import jax
import ml_collections
import numpy as np
from flax import nnx

from rec_jax import parallel
from rec_jax.batch import FeatureArrays, Rows
from rec_jax.data.features import FeatureOptions
from rec_jax.data.pipeline import train_batch
from rec_jax.evaluation.pointwise import predict_split
from rec_jax.experiment import build_model
from rec_jax.optim import make_optimizer
from rec_jax.sparse_step import make_sparse_optimizer
from rec_jax.tasks import ctr
from rec_jax.text.frozen import count_parameters
from rec_jax.train_step import make_predict, make_train_step, step_key


def load_split(path: str, fields) -> FeatureArrays:
  data = np.load(path)
  n = len(data["label"])
  rows = Rows(label=data["label"].astype(np.float32), user_id=np.zeros(n, np.int32), item_id=np.zeros(n, np.int32),
              history=np.zeros((n, 1), np.int32), categorical={f: data[f].astype(np.int32) for f in fields},
              numeric={}, item_is_cold=np.zeros(n, bool), rank_group=np.zeros(n, np.int32))
  return FeatureArrays(rows)


def main(spec_path: str) -> None:
  with open(spec_path) as f:
    spec = json.load(f)
  config = ml_collections.ConfigDict(spec["config"])
  fields = spec["fields"]
  train = load_split(f"{spec['data_dir']}/train.npz", fields)
  test = load_split(f"{spec['data_dir']}/test.npz", fields)
  features = FeatureOptions.from_config(config.features, where="features")
  model = build_model(config.model, features, spec["vocab_sizes"], rngs=nnx.Rngs(config.seed))
  mesh = parallel.make_mesh(config.parallel.num_devices)
  tx = make_sparse_optimizer(config.train, model) if config.train.sparse_embeddings else make_optimizer(config.train)
  model.train()
  graphdef = nnx.split(model, nnx.Param, ...)[0]
  model.eval()
  eval_graphdef, params, frozen = nnx.split(model, nnx.Param, ...)
  num_parameters = count_parameters(params)
  params, frozen, opt_state = parallel.replicate((params, frozen, tx.init(params)), mesh)
  train_step = make_train_step(graphdef, tx, ctr.TASK, mesh, ctr.Options())
  batch_size, seed = config.train.batch_size, config.seed
  sync_after = set(spec["sync_after"])
  ends = {}
  for step in range(spec["num_steps"]):
    batch = train_batch(train, step, batch_size, seed)
    params, opt_state, logs = train_step(params, frozen, opt_state, parallel.shard_batch(batch, mesh),
                                         step_key(seed, step))
    if step in sync_after:
      jax.block_until_ready((params, opt_state))
      ends[step] = time.perf_counter()
  predict = make_predict(eval_graphdef, ctr.TASK, mesh)
  probs = predict_split(lambda b: predict(params, frozen, parallel.shard_batch(b, mesh)), test, config.eval.batch_size)
  steps = sorted(ends)
  np.savez(spec["result"], synced_steps=np.asarray(steps), step_ends=np.asarray([ends[s] for s in steps]),
           test_probs=np.asarray(probs, np.float64), num_parameters=np.asarray(num_parameters),
           last_loss=np.asarray(float(logs["loss"])),
           peak_rss_kb=np.asarray(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: python {sys.argv[0]} <spec.json>  (written by benchmarks/ctr_scale.py)")
  main(sys.argv[1])
