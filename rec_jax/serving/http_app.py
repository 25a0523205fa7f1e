"""The HTTP layer of `python -m rec_jax.serve`: a Starlette (ASGI) application, run by uvicorn.

Why this stack: ASGI lets one process hold one copy of the model and the item index and still serve many
connections, and its event loop is where concurrent requests meet, so they can be batched into one call of the
exported functions (serving/batcher.py); a pre-fork WSGI server would need a copy of the model per worker and could
not batch across workers. Starlette is the small routing layer FastAPI itself is built on (no model-validation
framework: the service validates requests itself and names the field); uvicorn is the reference ASGI server.

Endpoints (JSON in and out):
- POST /recommend {user | history | user_features, k, exclude_seen, exclude, context, query} -> {items: [{item,
  score}], fallback, model_version}
- POST /score {rows: [{user, item, context, history, user_features, query}]} -> {scores, model_version}
- POST /items {items: [{item, <item features>, <text columns>}]} -> {items: [{item, row, new}], count}
- GET /healthz -> {status, model_version, items}
- GET /metrics -> Prometheus text: requests and errors per endpoint and status, latency histograms, batch sizes,
  cold-start fallbacks, items, model version.
A bad request is a 4xx with {"error": "<field>: <what is wrong>", "field"}: a body that is not JSON, too large
(413), nested too deeply or holding a string that is not valid Unicode (an unpaired surrogate escape) is 400/413
on field `body`; an unknown path 404 and a wrong method 405 on field `path`/`method`. A server-side failure is a
500 with the error (and its stack in the server's log).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import time
from typing import Any, Callable, List

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rec_jax.serving.batcher import Batcher
from rec_jax.serving.request_features import RequestError
from rec_jax.serving.service import Service

log = logging.getLogger("rec_jax.serve")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
MAX_BODY = 16 * 2 ** 20


class Metrics:
  def __init__(self, service: Service):
    self.registry = CollectorRegistry()
    r = self.registry
    self.requests = Counter("rec_jax_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
                            registry=r)
    self.errors = Counter("rec_jax_errors", "Requests that failed (4xx and 5xx) by endpoint and kind",
                          ["endpoint", "kind"], registry=r)
    self.latency = Histogram("rec_jax_request_latency_seconds", "Time from request to response", ["endpoint"],
                             buckets=LATENCY_BUCKETS, registry=r)
    self.batch = Histogram("rec_jax_batch_size", "Requests run as one call", ["endpoint"],
                           buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
    self.fallbacks = Counter("rec_jax_fallbacks", "Recommendations answered without the user's own vector",
                             ["kind"], registry=r)
    self.items = Gauge("rec_jax_items", "Items the service ranks and scores", registry=r)
    self.items_added = Gauge("rec_jax_items_added", "Items added at serve time", registry=r)
    info = Gauge("rec_jax_model_info", "The exported model being served", ["version", "task", "model"], registry=r)
    m = service.bundle.manifest
    info.labels(version=service.bundle.version, task=m["task"], model=m["model"]).set(1)
    self.update(service)

  def update(self, service: Service) -> None:
    self.items.set(len(service.items))
    self.items_added.set(service.items.added)


def _error(status: int, message: str, field: str = "") -> JSONResponse:
  return JSONResponse({"error": message, **({"field": field} if field else {})}, status_code=status)


async def read_payload(request: Request) -> Any:
  """The request's JSON body; RequestError (field `body`) when it is too large, not JSON, nested too deeply for the
  parser, or holds a string that is not valid Unicode (which no JSON answer could echo back)."""
  chunks, size = [], 0
  async for chunk in request.stream():
    size += len(chunk)
    if size > MAX_BODY:
      raise RequestError("body", f"larger than {MAX_BODY} bytes", status=413)
    chunks.append(chunk)
  body = b"".join(chunks)
  try:
    payload = json.loads(body)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise RequestError("body", f"not valid JSON ({e})", status=400) from None
  except RecursionError:
    raise RequestError("body", "nested too deeply", status=400) from None
  if b"\\u" in body:   # \uD800-\uDFFF escapes decode to unpaired surrogates, which UTF-8 cannot encode
    try:
      json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
      raise RequestError("body", f"a string holds {e.object[e.start:e.end]!r}, an unpaired surrogate escape (not "
                         "valid Unicode)", status=400) from None
  return payload


async def http_error(_: Request, e: HTTPException) -> Response:
  """Starlette's own 404 and 405 as JSON naming what is wrong."""
  if e.status_code == 405:
    return _error(405, f"method: not allowed here ({e.detail}); /recommend, /score and /items take POST, /healthz "
                  "and /metrics GET", "method")
  if e.status_code == 404:
    return _error(404, "path: no such endpoint; endpoints: /recommend, /score, /items, /healthz, /metrics", "path")
  return _error(e.status_code, str(e.detail))


def build_app(service: Service, max_batch: int = 64) -> Starlette:
  metrics = Metrics(service)
  executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

  def score_many(parsed: List[List[dict]]) -> List[Any]:
    sizes = [len(p) for p in parsed]
    scores = service.score([row for p in parsed for row in p])
    return np.split(np.asarray(scores), np.cumsum(sizes)[:-1])

  batchers = {
      "recommend": Batcher(service.recommend, executor, max_batch,
                           lambda n: metrics.batch.labels(endpoint="recommend").observe(n)),
      "score": Batcher(score_many, executor, max_batch, lambda n: metrics.batch.labels(endpoint="score").observe(n)),
      "items": Batcher(service.upsert_items_batch, executor, 1),
  }

  def endpoint(name: str, parse: Callable[[Any], Any], respond: Callable[[Any], dict]):
    async def handle(request: Request) -> Response:
      start = time.perf_counter()
      status = 200
      try:
        payload = await read_payload(request)
        result = await batchers[name].submit(parse(payload))
        response = JSONResponse(respond(result))
      except RequestError as e:
        status = e.status
        metrics.errors.labels(endpoint=name, kind="request").inc()
        response = _error(status, str(e), e.field)
      except Exception as e:  # noqa: BLE001  (a server fault: 500 with the error; the stack goes to the log)
        status = 500
        metrics.errors.labels(endpoint=name, kind="server").inc()
        log.exception("%s failed", name)
        response = _error(500, f"{type(e).__name__}: {e}")
      metrics.requests.labels(endpoint=name, status=str(status)).inc()
      metrics.latency.labels(endpoint=name).observe(time.perf_counter() - start)
      return response
    return handle

  def recommended(answer: dict) -> dict:
    if answer["fallback"]:
      metrics.fallbacks.labels(kind=answer["fallback"]).inc()
    return answer

  def scored(scores) -> dict:
    return {"scores": [float(s) for s in scores], "model_version": service.bundle.version}

  def added(result) -> dict:
    metrics.update(service)
    return {"items": result, "count": len(service.items), "model_version": service.bundle.version}

  async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok", "model_version": service.bundle.version, "items": len(service.items)})

  async def prometheus(_: Request) -> Response:
    metrics.update(service)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

  async def shutdown() -> None:
    for b in batchers.values():
      await b.close()
    executor.shutdown(wait=True)
    if service.monitor is not None:
      service.monitor.flush()

  routes = [
      Route("/recommend", endpoint("recommend", service.parse_recommend, recommended), methods=["POST"]),
      Route("/score", endpoint("score", service.parse_score, scored), methods=["POST"]),
      Route("/items", endpoint("items", service.parse_items, added), methods=["POST"]),
      Route("/healthz", healthz, methods=["GET"]),
      Route("/metrics", prometheus, methods=["GET"]),
  ]
  @contextlib.asynccontextmanager
  async def lifespan(_):
    yield
    await shutdown()

  app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
  app.state.metrics = metrics
  return app
