"""Command line: `python -m rec_jax.export --workdir=RUN --out=DIR [--checkpoint=best|latest]`.

Writes the run's export directory (rec_jax/serving/export_run.py): its scoring functions as jax.export programs with
a symbolic batch dimension, their weights, the feature processor, the tokenizer, the item catalogue, the known users
and the training data's reference distributions, with a manifest. `python -m rec_jax.serve --export=DIR` serves it.
A bad input is one `error:` line, as in rec_jax.main.
"""

import sys
from typing import Optional, Sequence

from rec_jax.main import call_reporting
from rec_jax.serving.cli import Parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = Parser(prog="python -m rec_jax.export", description=__doc__.split("\n\n")[1])
  parser.add_argument("--workdir", required=True, help="a finished (or checkpointed) rec_jax run")
  parser.add_argument("--out", required=True, help="the export directory to write")
  parser.add_argument("--checkpoint", default="best", choices=("best", "latest"))
  args = parser.parse_args(argv)

  def export():
    # Imports JAX; after parsing so --help stays fast. The workdir and --out are checked before the run is loaded.
    from rec_jax.analysis.loaded_run import load_run
    from rec_jax.serving.export_run import check_paths, write_export
    check_paths(args.workdir, args.out)
    return write_export(load_run(args.workdir, args.checkpoint), args.out)

  manifest, code = call_reporting(export)
  if code:
    return code
  from rec_jax.serving.export_run import describe
  print(describe(manifest, args.out), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
