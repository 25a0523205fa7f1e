"""What the HTTP service does, without HTTP: recommend top-K items, score candidate rows, add or update items.
Each method takes a batch of parsed requests (the HTTP layer gathers concurrent ones, serving/batcher.py) and runs
the exported functions once for all of them.

Users: a known user (one of the training data's) is read from the export's user table: their latest user features
and their click history, with the items they interacted with excluded from their recommendations. A request may
override the history (`history`) and the user features (`user_features`). An unknown user has the OOV id; with a
history or user features the user tower still answers (`"fallback": "features"`), with neither the answer is the
most clicked items of training (`"fallback": "popularity"`). Missing attributes of an unknown user read as unknown
(OOV id, or the train mean of a numeric).

Models: with a user and an item tower (`query`/`candidate` functions) recommendations are the exact top-K of the
item index; a pointwise-only model (`score`) scores every item of the catalogue for the user (cost grows with the
catalogue). `/score` uses `score` where the export has it, else the towers' dot product.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

import numpy as np

from rec_jax.batch import OOV
from rec_jax.serving.bundle import Bundle
from rec_jax.serving.item_store import ItemStore
from rec_jax.serving.request_features import RequestError, RequestFeatures

MAX_K = 1000
MAX_ROWS = 10000
WARM_BATCH, WARM_EXCLUDE, WARM_ROWS = 64, 1024, 1024


@dataclasses.dataclass
class UserRequest:
  """The user side of a request (one row of /score, or a /recommend)."""
  field: str                      # JSON path of the request, for errors
  user: Optional[str] = None
  history: Optional[list] = None
  user_features: Optional[dict] = None


def _object(value: Any, field: str) -> dict:
  if not isinstance(value, dict):
    raise RequestError(field, f"expected a JSON object, got {type(value).__name__}")
  return value


def _user_request(body: dict, field: str, allowed: set) -> UserRequest:
  unknown = body.keys() - allowed
  if unknown:
    unknown = sorted(unknown)
    raise RequestError(f"{field}.{unknown[0]}", f"unknown field; valid: {', '.join(sorted(allowed))}")
  user = body.get("user")
  if user is not None and (isinstance(user, (dict, list, bool)) or not isinstance(user, (str, int))):
    raise RequestError(f"{field}.user", f"expected a user id, got {user!r}")
  history = body.get("history")
  if history is not None and not isinstance(history, list):
    raise RequestError(f"{field}.history", "expected a list of item ids")
  features = body.get("user_features")
  if features is not None:
    _object(features, f"{field}.user_features")
  return UserRequest(field, None if user is None else str(user), history, features)


class Service:
  def __init__(self, bundle: Bundle, monitor=None, items_journal: str = ""):
    self.bundle = bundle
    self.signature = bundle.signature
    self.features = RequestFeatures(bundle.processor)
    self.items = ItemStore(bundle, self.features, items_journal)
    self.monitor = monitor
    sig = self.signature
    self.user_side = set(sig.fields("query"))
    side = set(sig.user_features) | set(sig.item_features)
    self.context_categorical = [n for n in sig.categorical if n not in side]
    self.context_numeric = [n for n in sig.numeric if n not in side]
    self.towers = bundle.has("query") and bundle.has("candidate")
    # What a /score row must give: the context features `score` reads (a towers-only model reads none).
    self.required_context = frozenset(self.context_categorical + self.context_numeric) if bundle.has("score") \
        else frozenset()
    # Cold-start ranking: most clicked in training first (ties by catalogue order).
    self._warm()

  def _warm(self) -> None:
    """Compiles the functions for the usual call sizes before the first request: batches of up to WARM_BATCH
    users, exclusion lists of up to WARM_EXCLUDE items, `score` on up to WARM_ROWS rows."""
    if self.signature.query is not None:
      return   # search: the query text is a request's own; compiled on first use
    # Exclusion lists are padded to powers of two: up to the most items a known user has (at most WARM_EXCLUDE).
    most = int(np.diff(self.bundle.users["seen_indptr"]).max(initial=0))
    widths = [w for w in (8, 16, 32, 64, 128, 256, 512, 1024) if w <= max(8, min(2 * most, WARM_EXCLUDE))]
    for rows in (8, 16, 32, WARM_BATCH):
      user = self.user_inputs([UserRequest("warmup")] * rows)
      if self.towers:
        vectors = self.bundle.function("query")(user)
        for width in widths:
          self.items.index.top_k(vectors, 10, [np.zeros(width, np.int32)] * rows)
    if self.bundle.has("score"):
      rows = 8
      while rows <= WARM_ROWS:
        user = self.user_inputs([UserRequest("warmup")] * rows)
        self.bundle.function("score")(self._score_inputs(user, np.zeros(rows, np.int64), [{}] * rows,
                                                         ["warmup"] * rows))
        rows *= 2

  # --- users ---------------------------------------------------------------------------------------------------
  def user_inputs(self, requests: List[UserRequest]) -> Dict[str, np.ndarray]:
    """The user-side inputs (`query` side, without the search query) of each request; requests with the same user,
    history and user features (the rows of one /score request, typically) are encoded once."""
    keys = [(r.user,) if r.history is None and r.user_features is None else
            (r.user, repr(r.history), repr(sorted((r.user_features or {}).items(), key=str))) for r in requests]
    distinct: Dict[tuple, int] = {}
    first = [distinct.setdefault(k, len(distinct)) for k in keys]
    if len(distinct) == len(requests):
      return self._user_inputs(requests)
    unique = [None] * len(distinct)
    for r, at in zip(requests, first):
      unique[at] = unique[at] or r
    return {k: v[first] for k, v in self._user_inputs(unique).items()}

  def _user_inputs(self, requests: List[UserRequest]) -> Dict[str, np.ndarray]:
    sig, f = self.signature, self.features
    users = self.bundle.users
    fields = [k for k in sig.fields("query") if not k.startswith("query.")]
    out = {k: np.zeros((len(requests),) + shape, dtype) for k, (shape, dtype) in sig.fields("query").items()
           if k in fields}
    for r, req in enumerate(requests):
      known = self.bundle.user_index(req.user) if req.user is not None else None
      if known is not None:
        for k in fields:
          out[k][r] = users[f"inputs/{k}"][known]
      else:
        out["user_id"][r] = OOV
        for name in sig.user_features:   # unknown attributes: OOV, or the train mean (0 once standardised)
          if name in sig.categorical:
            out[f"cat.{name}"][r] = OOV
      if req.history is not None:
        out["history"][r] = f.history([req.history], [f"{req.field}.history"])[0]
      for name, value in (req.user_features or {}).items():
        at = f"{req.field}.user_features.{name}"
        if name not in sig.user_features:
          raise RequestError(at, f"not a user feature; user features: {', '.join(sig.user_features) or 'none'}")
        if name in sig.categorical:
          out[f"cat.{name}"][r] = f.ids(name, [value], [at])[0]
        else:
          out[f"num.{name}"][r] = f.numeric(name, [value], [at])[0]
    return out

  def _known(self, req: UserRequest) -> Optional[int]:
    return self.bundle.user_index(req.user) if req.user is not None else None

  def _excluded(self, req: UserRequest, exclude_seen: bool, extra: List[Any]) -> np.ndarray:
    rows = []
    known = self._known(req)
    if exclude_seen and known is not None:
      rows.append(self.bundle.seen.items(known))
    if extra:
      rows.append(np.asarray([self.items.rows[str(i)] for i in extra if str(i) in self.items.rows], np.int64))
    return np.unique(np.concatenate(rows)).astype(np.int32) if rows else np.zeros(0, np.int32)

  # --- /recommend ----------------------------------------------------------------------------------------------
  def parse_recommend(self, body: Any) -> dict:
    body = _object(body, "body")
    req = _user_request(body, "body", {"user", "history", "user_features", "k", "exclude_seen", "exclude",
                                        "context", "query"})
    k = body.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
      raise RequestError("body.k", f"expected an integer in [1, {MAX_K}], got {k!r}")
    exclude_seen = body.get("exclude_seen", True)
    if not isinstance(exclude_seen, bool):
      raise RequestError("body.exclude_seen", "expected true or false")
    exclude = body.get("exclude", [])
    if not isinstance(exclude, list):
      raise RequestError("body.exclude", "expected a list of item ids")
    for i, item in enumerate(exclude):
      if isinstance(item, bool) or not isinstance(item, (str, int)):
        raise RequestError(f"body.exclude[{i}]", f"expected an item id, got {item!r}")
    context = self._context(body.get("context", {}), "body.context")
    self._no_query(body, "body")
    return {"user": req, "k": k, "exclude_seen": exclude_seen, "exclude": exclude, "context": context,
            "query": body.get("query")}

  def _context(self, value: Any, field: str, check_values: bool = True) -> dict:
    """The request's context features, each a context feature of the model with a readable value (None: unknown).
    `check_values=False`: the caller transforms the values, which checks them (a /score row: one vectorised
    check per feature over the request's rows, not a lookup per row)."""
    context = _object(value, field)
    names = self.context_categorical + self.context_numeric
    sig = self.signature
    for name, v in context.items():
      at = f"{field}.{name}"
      if name not in names:
        hint = " (a user feature: give it in user_features)" if name in sig.user_features else \
            " (an item feature: each item's own is used)" if name in sig.item_features else ""
        raise RequestError(at, f"not a context feature{hint}; context features: {', '.join(names) or 'none'}")
      if v is not None and check_values:
        if name in self.context_categorical:
          self.features.ids(name, [v], [at])
        else:
          self.features.numeric(name, [v], [at])
    return context

  def _no_query(self, body: dict, field: str) -> None:
    if body.get("query") is not None and self.signature.query is None:
      raise RequestError(f"{field}.query", "this model reads no search query; leave it out")

  def recommend(self, parsed: List[dict]) -> List[dict]:
    users = [p["user"] for p in parsed]
    excluded = [self._excluded(p["user"], p["exclude_seen"], p["exclude"]) for p in parsed]
    cold = [self._known(u) is None and u.history is None and not u.user_features for u in users]
    answers: List[Optional[dict]] = [None] * len(parsed)
    for r in [r for r, c in enumerate(cold) if c]:
      answers[r] = self._popular(parsed[r]["k"], excluded[r])
    warm = [r for r, c in enumerate(cold) if not c]
    if warm:
      inputs = self.user_inputs([users[r] for r in warm])
      if self.towers:
        if self.signature.query is not None:
          inputs.update(self._queries([parsed[r] for r in warm]))
        vectors = self.bundle.function("query")(inputs)
        k = max(parsed[r]["k"] for r in warm)
        scores, rows = self.items.index.top_k(vectors, k, [excluded[r] for r in warm])
        for i, r in enumerate(warm):
          answers[r] = self._answer(scores[i, :parsed[r]["k"]], rows[i, :parsed[r]["k"]],
                                    None if self._known(users[r]) is not None else "features")
        if self.monitor is not None:
          self.monitor.record(inputs, None)
      else:
        for i, r in enumerate(warm):
          answers[r] = self._recommend_pointwise(parsed[r], {k: v[i:i + 1] for k, v in inputs.items()},
                                                 excluded[r])
    return answers

  def _queries(self, parsed: List[dict]) -> Dict[str, np.ndarray]:
    texts = []
    for p in parsed:
      if not isinstance(p.get("query"), str):
        raise RequestError(f"{p['user'].field}.query", "this model ranks items for a search query: give one")
      texts.append(p["query"])
    return self.features.queries(texts, [f"{p['user'].field}.query" for p in parsed])

  def _recommend_pointwise(self, p: dict, user: Dict[str, np.ndarray], excluded: np.ndarray) -> dict:
    n = len(self.items)
    rows = np.arange(n)
    inputs = self._score_inputs({k: np.repeat(v, n, axis=0) for k, v in user.items()}, rows, [p["context"]] * n,
                                [f"{p['user'].field}"] * n, query=p.get("query"))
    scores = np.concatenate([self.bundle.function("score")({k: v[s:s + 4096] for k, v in inputs.items()})
                             for s in range(0, n, 4096)]).astype(np.float64)
    scores[excluded] = -np.inf
    k = min(p["k"], int(np.isfinite(scores).sum()))
    best = np.argsort(-scores, kind="stable")[:k]
    return self._answer(scores[best], best, None if self._known(p["user"]) is not None else "features")

  def _popular(self, k: int, excluded: np.ndarray) -> dict:
    popularity = self.items.popularity[:len(self.items)].astype(np.float64)
    popularity[excluded] = -np.inf
    best = np.argsort(-popularity, kind="stable")[:min(k, int(np.isfinite(popularity).sum()))]
    return self._answer(popularity[best], best, "popularity")

  def _answer(self, scores: np.ndarray, rows: np.ndarray, fallback: Optional[str]) -> dict:
    keep = np.isfinite(scores)
    return {"items": [{"item": self.items.ids[int(r)], "score": float(s)}
                      for s, r in zip(scores[keep], rows[keep])],
            "fallback": fallback, "model_version": self.bundle.version}

  # --- /score --------------------------------------------------------------------------------------------------
  def parse_score(self, body: Any) -> List[dict]:
    body = _object(body, "body")
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
      raise RequestError("body.rows", "expected a non-empty list of {user, item, context} rows")
    if len(rows) > MAX_ROWS:
      raise RequestError("body.rows", f"at most {MAX_ROWS} rows per request, got {len(rows)}")
    parsed = []
    for i, row in enumerate(rows):
      field = f"body.rows[{i}]"
      row = _object(row, field)
      req = _user_request(row, field, {"user", "history", "user_features", "item", "context", "query"})
      if "item" not in row:
        raise RequestError(f"{field}.item", "missing: every row needs an item id")
      item = self.items.row(row["item"], f"{field}.item")
      context = self._context(row.get("context", {}), f"{field}.context", check_values=False)
      self._no_query(row, field)
      if not context.keys() >= self.required_context:
        name = next(n for n in self.context_categorical + self.context_numeric if n not in context)
        raise RequestError(f"{field}.context.{name}", "missing: the model reads this context feature "
                           f"(context: {', '.join(self.context_categorical + self.context_numeric)})")
      parsed.append({"user": req, "item": item, "context": context, "query": row.get("query"), "field": field})
    return parsed

  def score(self, parsed: List[dict]) -> np.ndarray:
    user = self.user_inputs([p["user"] for p in parsed])
    items = np.asarray([p["item"] for p in parsed], np.int64)
    if self.bundle.has("score"):
      inputs = self._score_inputs(user, items, [p["context"] for p in parsed], [p["field"] for p in parsed],
                                  queries=[p.get("query") for p in parsed])
      scores = self.bundle.function("score")(inputs)
    else:
      inputs = dict(user)
      if self.signature.query is not None:
        inputs.update(self._queries(parsed))
      scores = np.sum(self.bundle.function("query")(inputs) * self.items.index.rows(items), axis=-1)
    if self.monitor is not None:
      self.monitor.record(inputs, scores)
    return scores

  def _score_inputs(self, user: Dict[str, np.ndarray], items: np.ndarray, contexts: List[dict], where: List[str],
                    query: Optional[str] = None, queries: Optional[List[Any]] = None) -> Dict[str, np.ndarray]:
    sig, f = self.signature, self.features
    inputs = dict(user)
    inputs.update(self.items.take(items))
    for name in self.context_categorical + self.context_numeric:   # /recommend's context is optional: unknown
      values = [c.get(name) for c in contexts]
      given = [i for i, v in enumerate(values) if v is not None]
      at = [f"{where[i]}.context.{name}" for i in given]
      if name in self.context_categorical:
        column = np.full(len(values), OOV, np.int32)
        column[given] = f.ids(name, [values[i] for i in given], at) if given else []
        inputs[f"cat.{name}"] = column
      else:
        column = np.zeros(len(values), np.float32)
        column[given] = f.numeric(name, [values[i] for i in given], at) if given else []
        inputs[f"num.{name}"] = column
    if sig.query is not None:
      texts = queries if queries is not None else [query] * len(items)
      for q, w in zip(texts, where):
        if not isinstance(q, str):
          raise RequestError(f"{w}.query", "this model scores items for a search query: give one")
      tokens = f.queries(texts, [f"{w}.query" for w in where])
      if sig.query.kind == "tokens":
        inputs.update(tokens)
      else:
        pooled = self.bundle.function("text_form.query")({k.replace("query.", "text."): v
                                                          for k, v in tokens.items()})
        inputs["query.pooled"] = pooled
    return {k: inputs[k] for k in sig.fields("score")}

  # --- /items --------------------------------------------------------------------------------------------------
  def parse_items(self, body: Any) -> List[dict]:
    body = _object(body, "body")
    items = body.get("items")
    if not isinstance(items, list) or not items:
      raise RequestError("body.items", "expected a non-empty list of items, each {item, <columns>}")
    allowed = {"item", *self.signature.item_features, *self.bundle.processor.cfg.text}
    for i, item in enumerate(items):
      item = _object(item, f"body.items[{i}]")
      unknown = sorted(set(item) - allowed)
      if unknown:
        raise RequestError(f"body.items[{i}].{unknown[0]}", f"not an item column; item columns: "
                           f"{', '.join(sorted(allowed))}")
    return items

  def upsert_items(self, items: List[dict]) -> List[dict]:
    return self.items.upsert(items, [f"body.items[{i}]" for i in range(len(items))])

  def upsert_items_batch(self, requests: List[List[dict]]) -> List[List[dict]]:
    """/items requests one after the other (each is its own all-or-nothing change)."""
    return [self.upsert_items(items) for items in requests]
