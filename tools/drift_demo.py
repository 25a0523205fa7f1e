r"""What `python -m rec_jax.monitor` reports for held-out traffic and for shifted traffic.

  python tools/drift_demo.py --workdir=RUN --export=DIR [--log=/tmp/drift_demo.jsonl]

Window 0: the run's test split scored as the service scores it (its rows' inputs and the exported `score`, or the
towers' dot product), recorded by the service's own WindowLog. Window 1: the same rows shifted as traffic shifts:
half the users unknown (OOV), the first user feature unknown for half the rows, every numeric feature moved by one
standard deviation. Prints the monitor's report of each window.
"""

import argparse
import os

import numpy as np

from rec_jax import monitor
from rec_jax.analysis.loaded_run import load_run
from rec_jax.batch import OOV
from rec_jax.serving.bundle import Bundle
from rec_jax.serving.drift import WindowLog


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--export", required=True)
  p.add_argument("--log", default="/tmp/drift_demo.jsonl")
  args = p.parse_args()
  run, bundle = load_run(args.workdir), Bundle(args.export)
  test = run.split("test")
  inputs = bundle.rows_inputs(test.rows, test.texts, "score")
  if os.path.exists(args.log):
    os.remove(args.log)
  log = WindowLog(bundle.reference, bundle.signature, args.log, window_rows=10 ** 9, window_seconds=10 ** 9)

  def scores(x):
    if bundle.has("score"):
      return bundle.function("score")(x)
    return np.sum(bundle.function("query")(x) * bundle.function("candidate")(x), axis=-1)

  log.record(inputs, scores(inputs))
  log.flush()
  shifted = {k: v.copy() for k, v in inputs.items()}
  half = np.arange(len(test)) % 2 == 0
  shifted["user_id"][half] = OOV
  users = [n for n in bundle.signature.user_features if n in bundle.signature.categorical]
  if users:
    shifted[f"cat.{users[0]}"][half] = OOV
  for name in bundle.signature.numeric:
    shifted[f"num.{name}"] = shifted[f"num.{name}"] + 1.0   # standardised: one standard deviation
  log.record(shifted, scores(shifted))
  log.flush()
  for window in ("0", "1"):
    print(f"$ python -m rec_jax.monitor --export={args.export} --log={args.log} --window={window}")
    monitor.main(["--export", args.export, "--log", args.log, "--window", window])


if __name__ == "__main__":
  main()
