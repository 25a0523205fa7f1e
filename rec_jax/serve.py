"""Command line: `python -m rec_jax.serve --export=DIR [--host=127.0.0.1] [--port=8000] [--monitor_log=FILE]
[--items_journal=FILE]`.

Serves an export of `python -m rec_jax.export` over HTTP (rec_jax/serving/http_app.py: /recommend, /score, /items,
/healthz, /metrics) with uvicorn, one process. With --items_journal, items added or updated through /items are
appended to that file and replayed when the server starts again. The functions are compiled before the port opens, so the first
request is as fast as the others. With --monitor_log, every window of --window_rows scored rows (or
--window_seconds) appends its input and score distributions to that file; `python -m rec_jax.monitor` compares them
with the training data. A bad flag, a bad export, a port in use or a file it cannot write is one `error:` line and
exit code 1, before the port opens.
"""

import argparse
import errno
import os
import socket
import sys
from typing import Optional, Sequence

from rec_jax.errors import UserError, describe_os_error
from rec_jax.main import call_reporting
from rec_jax.serving.cli import Parser


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  parser = Parser(prog="python -m rec_jax.serve", description=__doc__.split("\n\n")[1])
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
  for name in ("max_batch", "window_rows", "window_seconds"):
    value = getattr(args, name)
    if not value > 0:   # NaN too
      parser.error(f"--{name}={value}: must be a positive number")
  if not args.export:
    parser.error("--export is empty: give an export directory (python -m rec_jax.export)")
  return args


def writable_file(path: str, flag: str) -> None:
  """`path` can be appended to (it is created, with its directory, if missing): checked at start, so a file the
  service cannot write fails the command rather than its first request."""
  if os.path.isdir(path):
    raise UserError(f"{flag}={path} is a directory; give a file")
  try:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a"):
      pass
  except OSError as e:
    raise UserError(f"{flag}={path} cannot be written ({describe_os_error(e)}); give a file you can write") from None


def listen(host: str, port: int) -> socket.socket:
  """The bound socket uvicorn serves on: a port in use or a host that does not resolve is one error line, before the
  export is loaded."""
  try:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
  except socket.gaierror as e:
    raise UserError(f"--host={host} does not resolve ({e.strerror}); give an address of this machine, e.g. "
                    "127.0.0.1 or 0.0.0.0") from None
  sock = socket.socket(family, kind, proto)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  try:
    sock.bind(address)
  except OSError as e:
    sock.close()
    if e.errno == errno.EADDRINUSE:
      raise UserError(f"--port={port}: {host}:{port} is already in use (another server?); stop it or pick another "
                      "--port") from None
    raise UserError(f"cannot listen on --host={host} --port={port} ({e.strerror})") from None
  return sock


def build(args: argparse.Namespace):
  """The ASGI app of the parsed arguments (the tests build it in-process)."""
  from rec_jax.serving.bundle import Bundle  # Imports JAX; after parsing so --help stays fast.
  from rec_jax.serving.drift import WindowLog
  from rec_jax.serving.http_app import build_app
  from rec_jax.serving.service import Service
  for path, flag in ((args.monitor_log, "--monitor_log"), (args.items_journal, "--items_journal")):
    if path:
      writable_file(path, flag)
  bundle = Bundle(args.export)
  monitor = None
  if args.monitor_log:
    monitor = WindowLog(bundle.reference, bundle.signature, args.monitor_log, args.window_rows, args.window_seconds,
                        model_version=bundle.version)
  return build_app(Service(bundle, monitor, args.items_journal), args.max_batch)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse(argv)
  sock, code = call_reporting(lambda: listen(args.host, args.port))
  if code:
    return code
  with sock:
    app, code = call_reporting(lambda: build(args))
    if code:
      return code
    import gc  # pylint: disable=import-outside-toplevel
    import uvicorn  # pylint: disable=import-outside-toplevel
    # The loaded export (arrays, vocabularies: millions of objects) moves to the permanent generation, so the
    # collector's full passes during serving do not walk it again and again (latency spikes).
    gc.freeze()
    host, port = sock.getsockname()[:2]
    print(f"serving {args.export} on http://{host}:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=False))
    server.run(sockets=[sock])
  return 0


if __name__ == "__main__":
  sys.exit(main())
