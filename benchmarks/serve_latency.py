r"""Serving latency and throughput over HTTP on 127.0.0.1, against the same scoring done in-process (the ceiling).

  python benchmarks/serve_latency.py --workdir=/tmp/serve_latency [--items 100000] [--requests 2000]
                                     [--duration 60] [--concurrency 1,8,32]

Models (trained once into the workdir, exported with rec_jax.export, reused by later invocations):
- `/recommend`: configs/zoo.py:two_tower_text (user tower over user features and the click history, item tower
  over id, attributes and a text tower) on a synthetic shop with `--items` items, every one of them in the
  catalogue and the item index; each request is a known user, K=10, their interacted items excluded.
- `/score`: configs/synthetic.py's hybrid (text tower on tokens + DeepFM + CF, CTR) on the same shop; each request
  scores 100 candidate items for one user and context.

Load: `python -m rec_jax.serve` in its own process; this process keeps C connections busy (one thread and one
persistent HTTP/1.1 connection each, C = each `--concurrency` level), each sending its next request as soon as the
last one is answered, until `--requests` requests are answered or `--duration` seconds pass (it stops by itself).
The first 10 % of each level are warm-up and not counted. In-process: the same requests through the service's own
methods (rec_jax/serving/service.py, the JSON already parsed), one at a time, in this process.

Lines: `http endpoint=.. concurrency=C requests=.. p50_ms=.. p95_ms=.. p99_ms=.. qps=.. errors=..`,
`inprocess endpoint=.. requests=.. p50_ms=.. p99_ms=.. qps=..`, and last
`summary recommend_p99_ms_c8=.. recommend_qps_ratio_c8=<http / in-process> score_p99_ms_c8=.. score_qps_ratio_c8=..`.
"""

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "..", "configs")


def _args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--items", type=int, default=100_000)
  p.add_argument("--impressions", type=int, default=600_000)
  p.add_argument("--steps", type=int, default=300, help="training steps of each model (latency needs no more)")
  p.add_argument("--requests", type=int, default=2000, help="requests per level, warm-up included")
  p.add_argument("--duration", type=float, default=60.0, help="seconds per level at most")
  p.add_argument("--concurrency", default="1,8,32")
  p.add_argument("--port", type=int, default=8765)
  return p.parse_args()


def _train_and_export(args, name: str, config: str, overrides) -> str:
  workdir = os.path.join(args.workdir, name)
  out = os.path.join(args.workdir, f"{name}_export")
  shop = [f"--config.data.shop.num_items={args.items}", f"--config.data.shop.num_impressions={args.impressions}",
          f"--config.data.data_dir={os.path.join(args.workdir, 'tfds')}", f"--config.train.num_steps={args.steps}",
          f"--config.eval.every_steps={args.steps}", f"--config.checkpoint.every_steps={args.steps}"]
  if not os.path.exists(os.path.join(workdir, "results.json")):
    subprocess.run([sys.executable, "-m", "rec_jax.main", f"--config={config}", f"--workdir={workdir}", *shop,
                    *overrides], check=True)
  if not os.path.exists(os.path.join(out, "manifest.json")):
    subprocess.run([sys.executable, "-m", "rec_jax.export", f"--workdir={workdir}", f"--out={out}"], check=True)
  return out


def _complete_catalogue(bundle, items: int):
  """/items bodies that bring the catalogue to `items` items: the shop's items nobody interacted with in the
  generated log are not in the export, so they are added as a shop adds items, from their columns (texts and
  attributes of existing items, recombined)."""
  have = len(bundle.items["ids"])
  raw = {k[len("raw/"):]: v for k, v in bundle.items.items() if k.startswith("raw/")}
  rng = np.random.default_rng(0)
  bodies, batch = [], []
  for n in range(items - have):
    row = rng.integers(0, have, size=3)
    item = {"item": f"extra{n:06d}", "title": str(raw["title"][row[0]]), "description": str(raw["description"][row[1]]),
            "category": str(raw["category"][row[2]]), "brand": str(raw["brand"][row[2]]),
            "price": float(raw["price"][row[0]])}
    batch.append(item)
    if len(batch) == 2000:
      bodies.append({"items": batch})
      batch = []
  if batch:
    bodies.append({"items": batch})
  return bodies


def _requests(bundle, kind: str, count: int):
  rng = random.Random(0)
  users = [str(u) for u, k in zip(bundle.users["ids"], bundle.users["known"]) if k]
  items = [str(i) for i in bundle.items["ids"]]
  if kind == "recommend":
    return [{"user": rng.choice(users), "k": 10} for _ in range(count)]
  contexts = [{"hour": h, "weekday": d} for h in range(24) for d in range(7)]
  return [{"rows": [{"user": u, "item": i, "context": c} for i in rng.sample(items, 100)]}
          for u, c in ((rng.choice(users), rng.choice(contexts)) for _ in range(count))]


def _post(conn, path: str, body: bytes):
  conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
  response = conn.getresponse()
  data = response.read()
  return response.status, data


def _load(port: int, path: str, bodies, concurrency: int, duration: float):
  """(latencies of the counted requests in seconds, their wall seconds, errors)."""
  encoded = [json.dumps(b).encode() for b in bodies]
  warm = len(encoded) // 10
  next_index, lock = [0], threading.Lock()
  latencies, errors, marks = [], [0], {}
  deadline = time.perf_counter() + duration

  def worker():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
      with lock:
        i = next_index[0]
        if i >= len(encoded) or time.perf_counter() > deadline:
          break
        next_index[0] += 1
        if i == warm:
          marks["start"] = time.perf_counter()
      start = time.perf_counter()
      status, _ = _post(conn, path, encoded[i])
      elapsed = time.perf_counter() - start
      with lock:
        if status != 200:
          errors[0] += 1
        if i >= warm:
          latencies.append(elapsed)
    conn.close()

  threads = [threading.Thread(target=worker) for _ in range(concurrency)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  wall = time.perf_counter() - marks.get("start", time.perf_counter())
  return np.asarray(latencies), wall, errors[0]


def _stats(latencies, wall):
  ms = latencies * 1000
  return {"requests": len(ms), "p50_ms": np.percentile(ms, 50), "p95_ms": np.percentile(ms, 95),
          "p99_ms": np.percentile(ms, 99), "qps": len(ms) / max(wall, 1e-9)}


def _fmt(d):
  return " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


def _in_process(export: str, kind: str, bodies, extra_items):
  """The service's own methods on the same requests, one at a time: the ceiling of the HTTP numbers."""
  from rec_jax.serving.bundle import Bundle
  from rec_jax.serving.service import Service
  service = Service(Bundle(export))
  for body in extra_items:
    service.upsert_items(service.parse_items(body))
  if kind == "recommend":
    run = lambda body: service.recommend([service.parse_recommend(body)])  # noqa: E731
  else:
    run = lambda body: service.score(service.parse_score(body))  # noqa: E731
  warm = len(bodies) // 10
  latencies = []
  for i, body in enumerate(bodies):
    start = time.perf_counter()
    run(body)
    if i >= warm:
      latencies.append(time.perf_counter() - start)
  latencies = np.asarray(latencies)
  return _stats(latencies, float(latencies.sum()))


def _serve(export: str, port: int):
  proc = subprocess.Popen([sys.executable, "-m", "rec_jax.serve", f"--export={export}", f"--port={port}"])
  deadline = time.time() + 600
  while time.time() < deadline:
    try:
      conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
      conn.request("GET", "/healthz")
      if conn.getresponse().status == 200:
        return proc
    except OSError:
      time.sleep(1)
  proc.kill()
  raise SystemExit("the server did not start")


def main():
  args = _args()
  os.makedirs(args.workdir, exist_ok=True)
  from rec_jax.serving.bundle import Bundle
  levels = [int(c) for c in args.concurrency.split(",")]
  exports = {
      "recommend": _train_and_export(args, "two_tower", os.path.join(CONFIGS, "zoo.py") + ":two_tower_text", []),
      "score": _train_and_export(args, "hybrid", os.path.join(CONFIGS, "synthetic.py"), []),
  }
  summary = {}
  for kind, export in exports.items():
    bundle = Bundle(export)
    extra = _complete_catalogue(bundle, args.items) if kind == "recommend" else []
    bodies = _requests(bundle, kind, args.requests)
    ceiling = _in_process(export, kind, bodies, extra)
    print(f"inprocess endpoint={kind} {_fmt(ceiling)}", flush=True)
    proc = _serve(export, args.port)
    try:
      conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
      for body in extra:
        status, data = _post(conn, "/items", json.dumps(body).encode())
        if status != 200:
          raise SystemExit(f"/items failed: {data[:300]}")
      conn.request("GET", "/healthz")
      catalogue = json.loads(conn.getresponse().read())["items"]
      print(f"catalogue endpoint={kind} items={catalogue}", flush=True)
      for c in levels:
        latencies, wall, errors = _load(args.port, f"/{kind}", bodies, c, args.duration)
        stats = _stats(latencies, wall)
        print(f"http endpoint={kind} concurrency={c} {_fmt(stats)} errors={errors}", flush=True)
        if c == 8:
          summary[f"{kind}_p99_ms_c8"] = stats["p99_ms"]
          summary[f"{kind}_qps_ratio_c8"] = stats["qps"] / ceiling["qps"]
    finally:
      proc.terminate()
      proc.wait(timeout=60)
  print("summary " + _fmt(summary), flush=True)


if __name__ == "__main__":
  main()
