"""The HTTP service end to end over real HTTP on localhost: `python -m rec_jax.serve` started and stopped by the
test, every endpoint, 4xx answers that name the field, cold-start fallbacks, an item added at serve time that is
then recommended and scored, Prometheus metrics, and the monitor log that `python -m rec_jax.monitor` reads (a
window of shifted traffic raises the alarm)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from rec_jax import monitor
from rec_jax.serving.bundle import Bundle

pytestmark = pytest.mark.xdist_group("trained_smoke_run")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _call(port, path, body=None, raw=None):
  data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
  request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
  try:
    with urllib.request.urlopen(request, timeout=60) as r:
      text = r.read().decode()
      return r.status, (json.loads(text) if r.headers.get_content_type() == "application/json" else text)
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read().decode())


@pytest.fixture(scope="module")
def server(two_tower_export, tmp_path_factory):
  _, out = two_tower_export
  port = _free_port()
  log = str(tmp_path_factory.mktemp("serve") / "monitor.jsonl")
  proc = subprocess.Popen([sys.executable, "-m", "rec_jax.serve", f"--export={out}", f"--port={port}",
                           f"--monitor_log={log}", "--window_rows=300", "--window_seconds=3600"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "XLA_FLAGS": ""})
  deadline = time.time() + 240
  while time.time() < deadline:
    if proc.poll() is not None:
      raise AssertionError(f"the server exited: {proc.stdout.read()[-3000:]}")
    try:
      if _call(port, "/healthz")[0] == 200:
        break
    except OSError:
      time.sleep(0.5)
  else:
    proc.kill()
    raise AssertionError("the server did not answer /healthz within 240 s")
  yield port, out, log, proc
  if proc.poll() is None:
    proc.kill()


def test_endpoints_over_http(server):
  port, out, log, proc = server
  bundle = Bundle(out)
  users, items = bundle.users["ids"], bundle.items["ids"]
  status, health = _call(port, "/healthz")
  assert status == 200 and health["status"] == "ok" and health["items"] == len(items)
  version = health["model_version"]

  # A known user: K items with descending scores, none of those they interacted with.
  user = int(np.argmax(np.diff(bundle.users["seen_indptr"])))
  status, answer = _call(port, "/recommend", {"user": str(users[user]), "k": 5})
  assert status == 200 and answer["fallback"] is None and answer["model_version"] == version
  scores = [i["score"] for i in answer["items"]]
  assert len(scores) == 5 and scores == sorted(scores, reverse=True)
  seen = set(items[bundle.seen.items(user)])
  assert seen and not seen & {i["item"] for i in answer["items"]}
  _, with_seen = _call(port, "/recommend", {"user": str(users[user]), "k": 5, "exclude_seen": False,
                                            "exclude": [answer["items"][0]["item"]]})
  assert answer["items"][0]["item"] not in {i["item"] for i in with_seen["items"]}

  # Unknown users: popularity without anything known, the user tower from a history.
  status, cold = _call(port, "/recommend", {"user": "somebody-new", "k": 3})
  assert status == 200 and cold["fallback"] == "popularity" and len(cold["items"]) == 3
  status, by_history = _call(port, "/recommend", {"user": "somebody-new", "history": [str(items[0])], "k": 3})
  assert status == 200 and by_history["fallback"] == "features"

  # /score: the towers' dot product of each row.
  rows = [{"user": str(users[user]), "item": str(i)} for i in items[:100]]
  status, scored = _call(port, "/score", {"rows": rows})
  assert status == 200 and len(scored["scores"]) == 100

  # A new item from its text and attributes: served at once, recommended to a user whose history is like it.
  new = {"item": "brand-new", "title": str(bundle.items["raw/title"][0]),
         "description": str(bundle.items["raw/description"][0]), "category": str(bundle.items["raw/category"][0]),
         "brand": str(bundle.items["raw/brand"][0]), "price": float(bundle.items["raw/price"][0])}
  status, added = _call(port, "/items", {"items": [new]})
  assert status == 200 and added["items"][0]["new"] and added["count"] == len(items) + 1
  status, scored_new = _call(port, "/score", {"rows": [{"user": str(users[user]), "item": "brand-new"}]})
  assert status == 200 and np.isfinite(scored_new["scores"][0])
  _, everything = _call(port, "/recommend", {"user": str(users[user]), "k": 1000, "exclude_seen": False})
  assert "brand-new" in {i["item"] for i in everything["items"]} and len(everything["items"]) == len(items) + 1

  # Bad requests: 4xx naming the field.
  for body, status, field in [
      ({"user": str(users[0]), "k": 0}, 422, "body.k"),
      ({"user": str(users[0]), "k": "ten"}, 422, "body.k"),
      ({"user": str(users[0]), "colour": 1}, 422, "body.colour"),
      ({"user": {"id": 1}}, 422, "body.user"),
      ({"history": "i1"}, 422, "body.history"),
      ([1, 2], 422, "body"),
  ]:
    got, error = _call(port, "/recommend", body)
    assert (got, error["field"]) == (status, field), (body, error)
    assert error["error"].startswith(field)
  got, error = _call(port, "/recommend", raw=b"{not json")
  assert got == 400 and error["field"] == "body"
  got, error = _call(port, "/score", {"rows": [{"user": "u", "item": "no-such-item"}]})
  assert got == 404 and error["field"] == "body.rows[0].item"
  got, error = _call(port, "/score", {"rows": []})
  assert got == 422 and error["field"] == "body.rows"
  got, error = _call(port, "/items", {"items": [{"item": "x", "title": "t", "category": "dress", "brand": "b"}]})
  assert got == 422 and error["field"] == "body.items[0].price"
  got, error = _call(port, "/items", {"items": [{**new, "price": "cheap"}]})
  assert got == 422 and error["field"] == "body.items[0].price"
  got, error = _call(port, "/items", {"items": [{**new, "colour": "red"}]})
  assert got == 422 and error["field"] == "body.items[0].colour"

  status, text = _call(port, "/metrics")
  assert status == 200
  assert 'rec_jax_requests_total{endpoint="recommend",status="200"}' in text
  assert 'rec_jax_requests_total{endpoint="recommend",status="422"} 6.0' in text
  assert 'rec_jax_fallbacks_total{kind="popularity"} 1.0' in text
  assert 'rec_jax_request_latency_seconds_bucket{endpoint="score",le="+Inf"}' in text
  assert f'rec_jax_model_info{{model="two_tower",task="retrieval",version="{version}"}} 1.0' in text
  assert f"rec_jax_items {len(items) + 1}.0" in text and "rec_jax_items_added 1.0" in text


def test_monitor_log_and_drift_alarm(server, capsys):
  port, out, log, proc = server
  bundle = Bundle(out)
  users = bundle.users["ids"]
  # 600 rows of known users, then 600 of unknown users from a region and device the shop never had. Windows close
  # at 300 rows, so each kind of traffic fills at least one window of its own, and the last window is shifted.
  item = str(bundle.items["ids"][0])
  for start in range(0, 600, 50):
    _call(port, "/score", {"rows": [{"user": str(users[(start + i) % len(users)]), "item": item}
                                    for i in range(50)]})
  for start in range(0, 600, 50):
    _call(port, "/score", {"rows": [{"user": f"new-{start + i}", "item": item,
                                     "user_features": {"region": "atlantis", "device": "holodeck"}}
                                    for i in range(50)]})
  proc.send_signal(signal.SIGINT)   # uvicorn shuts down gracefully; the open window is written
  proc.wait(timeout=60)
  with open(log) as f:
    windows = [json.loads(line) for line in f]
  assert len(windows) >= 3 and all(w["rows"] >= 300 for w in windows[:-1])
  oov = []
  for w in windows:
    assert monitor.main(["--export", out, "--log", log, "--window", str(w["window"]), "--json"]) == 0
    rows = {r["input"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    oov.append(rows["user_id"]["oov_window"])
  assert 0.0 in oov   # a window of known users only
  assert monitor.main(["--export", out, "--log", log, "--fail_on_alarm"]) == 3
  report = capsys.readouterr().out
  assert "ALARM" in report
  assert monitor.main(["--export", out, "--log", log, "--json"]) == 0
  shifted = {r["input"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
  assert shifted["user_id"]["oov_window"] == 1.0 and shifted["user_id"]["level"] == "ALARM"
  assert shifted["cat.region"]["level"] == "ALARM" and shifted["cat.device"]["level"] == "ALARM"
  assert monitor.main(["--export", out, "--log", str(os.path.dirname(log)) + "/none.jsonl"]) == 1
