"""Command line: `python -m rec_jax.serve --export=DIR [--host=127.0.0.1] [--port=8000] [--monitor_log=FILE]
[--items_journal=FILE]`.

Serves an export of `python -m rec_jax.export` over HTTP (rec_jax/serving/http_app.py: /recommend, /score, /items,
/healthz, /metrics) with uvicorn, one process. With --items_journal, items added or updated through /items are
appended to that file and replayed when the server starts again. The functions are compiled before the port opens, so the first
request is as fast as the others. With --monitor_log, every window of --window_rows scored rows (or
--window_seconds) appends its input and score distributions to that file; `python -m rec_jax.monitor` compares them
with the training data. A bad export is one `error:` line.
"""

import argparse
import sys
from typing import Optional, Sequence

from rec_jax.main import call_reporting


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m rec_jax.serve", description=__doc__.split("\n\n")[1])
  parser.add_argument("--export", required=True, help="an export directory (python -m rec_jax.export)")
  parser.add_argument("--host", default="127.0.0.1")
  parser.add_argument("--port", type=int, default=8000)
  parser.add_argument("--max_batch", type=int, default=64, help="requests run as one call, at most")
  parser.add_argument("--monitor_log", default="", help="append per-window input and score counts here")
  parser.add_argument("--items_journal", default="",
                      help="append every accepted /items change here and replay it at start (\"\": memory only)")
  parser.add_argument("--window_rows", type=int, default=10000)
  parser.add_argument("--window_seconds", type=float, default=60.0)
  parser.add_argument("--log_level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
  args = parser.parse_args(argv)
  if not 0 <= args.port < 65536:
    parser.error(f"--port={args.port}: expected 0..65535")
  if args.max_batch < 1 or args.window_rows < 1 or args.window_seconds <= 0:
    parser.error("--max_batch, --window_rows and --window_seconds must be positive")
  return args


def build(args: argparse.Namespace):
  """The ASGI app of the parsed arguments (the tests build it in-process)."""
  from rec_jax.serving.bundle import Bundle  # Imports JAX; after parsing so --help stays fast.
  from rec_jax.serving.drift import WindowLog
  from rec_jax.serving.http_app import build_app
  from rec_jax.serving.service import Service
  bundle = Bundle(args.export)
  monitor = None
  if args.monitor_log:
    monitor = WindowLog(bundle.reference, bundle.signature, args.monitor_log, args.window_rows, args.window_seconds)
  return build_app(Service(bundle, monitor, args.items_journal), args.max_batch)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse(argv)
  app, code = call_reporting(lambda: build(args))
  if code:
    return code
  import gc  # pylint: disable=import-outside-toplevel
  import uvicorn  # pylint: disable=import-outside-toplevel
  # The loaded export (arrays, vocabularies: millions of objects) moves to the permanent generation, so the
  # collector's full passes during serving do not walk it again and again (latency spikes).
  gc.freeze()
  print(f"serving {args.export} on http://{args.host}:{args.port}", flush=True)
  uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
  return 0


if __name__ == "__main__":
  sys.exit(main())
