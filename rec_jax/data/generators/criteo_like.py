"""A Criteo-shaped synthetic click log: a file in the real Criteo Kaggle `train.txt` format with a planted click
model, written at any size (the Kaggle file's 45M rows in a few minutes), so that the real loader
(rec_jax/data/datasets/criteo.py) and the CTR models are exercised at scale on data whose Bayes ceiling is known.

Command line (one summary line on stdout; a bad argument is one `error: ...` line on stderr and exit code 1):

  python -m rec_jax.data.generators.criteo_like --rows=45000000 --out=/tmp/criteo_like/train.txt \
      [--seed=0] [--total_vocab=10000000 | --vocab_sizes=n1,...,n26] [--ctr=0.25] [--zipf=1.1] \
      [--oracle=/tmp/criteo_like/oracle.npy] [--workers=1] [--block_rows=262144]

From Python: `write(CriteoSpec(rows=...), path)` returns the same summary as a dict (rows, clicks, ctr, seconds,
rows_per_second, bytes, the distinct ids seen per field).

The format is Criteo's: one impression per line, tab-separated, no header: the label (1 = clicked), 13 integer
columns I1..I13 (counts; I2 is -1..-3 in a few rows; empty = missing) and 26 categorical columns C1..C26 (8
lower-case hex digits; empty = missing).

What is drawn:
- Categorical ids. Field k's ids are the ranks 0..V_k-1 (V_k = `vocab_sizes[k]`, by default KAGGLE_VOCAB, the
  Kaggle file's distinct counts; `scaled_vocab` rescales them to a total), drawn from a continuous power law with
  exponent s = `zipf` (density ~ x^-s on [1, V_k + 1), rank = floor(x) - 1, sampled by its inverse CDF: no per-id
  table): a few ids cover a large share of the rows, most appear rarely or never (V_k is the id space: fewer
  distinct ids are seen). A rank is written as the 8 hex digits of a bijective 32-bit mix of (rank + a per-field
  salt), so values look like Criteo's hashes and an id has the same value in every file. Each field is missing at
  its own rate (about Criteo's; KAGGLE_CATEGORICAL_MISSING).
- Integer columns: heavy-tailed counts floor(expm1(N(mu_j, sigma_j))) clipped at 0, with medians and missing rates
  close to Criteo's (INTEGER_COLUMNS, KAGGLE_INTEGER_MISSING); a per-row "activity" factor correlates them.
- The click model: logit = bias + sum over fields k of std_k * d(rank) * e(k, id_k) + sum over the `interactions`
  (C_a, C_b) of interaction_std * e(a, b, id_a, id_b) + sum over some integer columns j of w_j * (log1p(I_j) - mu_j)
  (a constant per column when I_j is missing). Each e(...) is a fixed hash of its arguments and the seed, turned into
  a normal-like value (mean 0, variance 1): nothing is stored per id. The field scales std_k spread around
  `field_std` (drawn from the seed), and d(rank) = (1 + rank / RARE_RANK)^-rare_decay fades the effects of rare ids
  (a missing value is a frequent token with an effect of its own): frequent ids carry most of the signal and are
  learnable, an id seen once has a (smaller) effect too that no model can learn from one row, and more rows make
  more ids learnable. The bias is found by bisection on a fixed calibration sample so that the mean click
  probability is `ctr`; the label is Bernoulli(sigmoid(logit)). The logit depends only on the values written in
  the row, so the planted probability (saved by `oracle_path` as a float32 .npy, one per line) is the Bayes-optimal
  score: its AUC is the ceiling of any model (about 0.78 with the defaults; Criteo models reach about 0.80).

Determinism and streaming: rows are made in chunks of CHUNK_ROWS, chunk i from np.random.default_rng([seed, i]) (the
last, shorter chunk is the first rows of a full one), so the file is a pure function of the spec: neither `workers`
(threads making chunks ahead) nor `block_rows` (how many rows they may make ahead) changes a byte, and a file of N
rows is the first N lines of a longer one with the same spec. Each chunk's text is built by numpy, never row by
row: every field becomes 4-byte units from lookup tables (the hex digits of 16 bits, a number's groups of digits,
each with its tab) padded with 0 bytes; the units are transposed into lines and the padding dropped (one
bytes.translate); one write per chunk, in a background thread while the next chunk is made. Memory is bounded by
the chunks in flight, whatever `rows` is (45M rows: 0.4 GB peak RSS with the oracle).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import math
import os
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rec_jax.data.generators import tsv_units
# The spec and the Kaggle statistics it imitates live in criteo_spec.py; imported here too, for this module's users.
from rec_jax.data.generators.criteo_spec import (
    INTEGER_COLUMNS, KAGGLE_VOCAB, MAX_INTEGER, NEGATIVE_I2, NUM_CATEGORICAL, NUM_INTEGER, RARE_RANK,
    CriteoSpec, _is_int, scaled_vocab)
from rec_jax.errors import UserError, describe_os_error

CHUNK_ROWS = 65_536
DEFAULT_BLOCK_ROWS = 4 * CHUNK_ROWS
# Distinct ids seen are counted exactly (one bool per id) when all fields together have at most this many ids.
COUNT_DISTINCT_LIMIT = 2 ** 27
# Keys of the random streams that are not chunks (chunk i is [seed, i]).
_WORLD_KEY, _CALIBRATION_KEY = 2 ** 40, 2 ** 40 + 1
# Effects fade for rarer ids from RARE_RANK on (CriteoSpec.rare_decay), in power-of-two bands of ranks.
RANK_BANDS = 33
_BAND_OFFSETS = (np.arange(NUM_CATEGORICAL, dtype=np.uint32) * RANK_BANDS)[:, None]
# Per-field salts of the hex values (fixed: an id has the same value in every file, whatever the seed).
_HEX_SALT = np.arange(NUM_CATEGORICAL, dtype=np.uint32) * np.uint32(0x9E3779B9)


@dataclasses.dataclass(frozen=True)
class _World:
  """What a spec fixes for all its chunks: the rank sampler's constants, salts, effect scales and the bias."""
  vocab: np.ndarray        # (26,) int64
  tail: np.ndarray         # (26,) 1 - s, never exactly 0
  span: np.ndarray         # (26,) (V + 1)^(1 - s) - 1
  effect_salt: np.ndarray  # (26,) uint32
  field_std: np.ndarray    # (26,) float64
  effect_scale: np.ndarray  # (26 * 33,) float32: field k's effect scale for ranks in band b at k * 33 + b
  pairs: Tuple[Tuple[int, int], ...]   # 0-based field indices
  pair_salt: np.ndarray    # (pairs,) uint32
  interaction_std: float
  categorical_missing: np.ndarray   # (26,) float32
  integer_missing: np.ndarray       # (13,) float32
  integer_params: np.ndarray        # (5, 13): mu, sigma, activity, weight, missing effect (scaled)
  bias: float = 0.0


def _build_world(spec: CriteoSpec) -> _World:
  rng = np.random.default_rng([spec.seed, _WORLD_KEY])
  vocab = np.asarray(spec.vocab_sizes, dtype=np.int64)
  tail = 1.0 - spec.exponents()
  tail[tail == 0] = 1e-12   # s = 1: the limit, computed stably by log1p / expm1
  spread = rng.lognormal(0.0, 0.5, NUM_CATEGORICAL)
  field_std = spec.field_std * spread / np.sqrt(np.mean(spread ** 2))
  params = np.array(INTEGER_COLUMNS, dtype=np.float64).T
  params[3:] *= spec.integer_scale
  world = _World(
      vocab=vocab, tail=tail, span=np.expm1(tail * np.log(vocab + 1.0)),
      effect_salt=rng.integers(0, 2 ** 32, NUM_CATEGORICAL, dtype=np.uint32),
      field_std=field_std, effect_scale=_effect_scales(field_std, spec.rare_decay),
      pairs=tuple((a - 1, b - 1) for a, b in spec.interactions),
      pair_salt=rng.integers(0, 2 ** 32, max(len(spec.interactions), 1), dtype=np.uint32),
      interaction_std=float(spec.interaction_std),
      categorical_missing=np.asarray(spec.categorical_missing, dtype=np.float32),
      integer_missing=np.asarray(spec.integer_missing, dtype=np.float32),
      integer_params=params)
  return dataclasses.replace(world, bias=_calibrate_bias(world, spec))


def _effect_scales(field_std: np.ndarray, rare_decay: float) -> np.ndarray:
  """Per field and rank band b (ranks 2^b - 1 .. 2^(b+1) - 2): the field's std, the decay of rare ids and the
  standardisation of the hashed byte sums, as one float32 factor."""
  lowest_rank = 2.0 ** np.arange(RANK_BANDS) - 1
  decay = (1 + lowest_rank / RARE_RANK) ** -rare_decay
  return (field_std[:, None] * decay[None, :] * _EFFECT_SCALE).astype(np.float32).reshape(-1)


def _calibrate_bias(world: _World, spec: CriteoSpec) -> float:
  """The bias whose mean click probability on one chunk of a separate random stream is `ctr` (bisection)."""
  logit = _logit(world, _draw(world, np.random.default_rng([spec.seed, _CALIBRATION_KEY])))
  low, high = -50.0, 50.0
  for _ in range(60):
    mid = (low + high) / 2
    low, high = (mid, high) if np.mean(_sigmoid(logit + mid)) < spec.ctr else (low, mid)
  return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
  return 1.0 / (1.0 + np.exp(-x))


def _mix32(x: np.ndarray) -> np.ndarray:
  """murmur3's finaliser: a bijective mix of uint32 values (a new array)."""
  x = x ^ (x >> np.uint32(16))
  x *= np.uint32(0x85EBCA6B)
  x ^= x >> np.uint32(13)
  x *= np.uint32(0xC2B2AE35)
  x ^= x >> np.uint32(16)
  return x


# An effect is (the byte sum of a hashed key - 510) * _EFFECT_SCALE: mean 0, variance 1, |effect| < 3.5.
_EFFECT_MEAN, _EFFECT_SCALE = 510.0, 1 / math.sqrt(4 * (256 ** 2 - 1) / 12)


def _byte_sum(key: np.ndarray) -> np.ndarray:
  """A fixed, normal-like uint32 per uint32 key (0..1020, mean 510): the sum of the four bytes of a second mix
  (Wellons' lowbias32, unrelated to the hex values' mix)."""
  h = key ^ (key >> np.uint32(16))
  h *= np.uint32(0x7FEB352D)
  h ^= h >> np.uint32(15)
  h *= np.uint32(0x846CA68B)
  h ^= h >> np.uint32(16)
  pairs = (h & np.uint32(0x00FF00FF)) + ((h >> np.uint32(8)) & np.uint32(0x00FF00FF))
  return (pairs & np.uint32(0xFFFF)) + (pairs >> np.uint32(16))


def _effect(key: np.ndarray) -> np.ndarray:
  """The fixed normal-like effect (float64) of each uint32 key."""
  return (_byte_sum(key) - _EFFECT_MEAN) * _EFFECT_SCALE


@dataclasses.dataclass
class _Chunk:
  """The random draws of up to CHUNK_ROWS rows, field-major (field, row): numpy's loops then run along rows, with one
  constant per field."""
  ranks: np.ndarray         # (26, n) uint32; an empty value has rank V_k (its field's missing token)
  cat_missing: np.ndarray   # (26, n) bool
  ints: np.ndarray          # (13, n) int64
  int_missing: np.ndarray   # (13, n) bool
  uniform: np.ndarray       # (n,) the label's uniform draw

  def head(self, n: int) -> "_Chunk":
    return _Chunk(*(getattr(self, f.name)[..., :n] for f in dataclasses.fields(self)))


def _draw(world: _World, rng: np.random.Generator) -> _Chunk:
  """One full chunk's draws, always in this order (the file depends on it)."""
  ranks = _ranks(world, rng.random((NUM_CATEGORICAL, CHUNK_ROWS)))
  cat_missing = _missing(rng, world.categorical_missing)
  for k in np.flatnonzero(world.categorical_missing):
    ranks[k, cat_missing[k]] = world.vocab[k]
  activity = rng.standard_normal((1, CHUNK_ROWS))
  noise = rng.standard_normal((NUM_INTEGER, CHUNK_ROWS))
  ints = _integers(world, activity, noise, rng.random(CHUNK_ROWS))
  int_missing = _missing(rng, world.integer_missing)
  return _Chunk(ranks, cat_missing, ints, int_missing, rng.random(CHUNK_ROWS))


def _missing(rng: np.random.Generator, rates: np.ndarray) -> np.ndarray:
  """(columns, CHUNK_ROWS) bool: which values are empty; drawn only for the columns with a missing rate."""
  missing = np.zeros((len(rates), CHUNK_ROWS), dtype=bool)
  some = np.flatnonzero(rates)
  missing[some] = rng.random((len(some), CHUNK_ROWS), dtype=np.float32) < rates[some, None]
  return missing


def _ranks(world: _World, u: np.ndarray) -> np.ndarray:
  """Power-law ranks (uint32) by the inverse CDF of density x^-s on [1, V + 1): rank = floor(x) - 1 with
  x = (1 + u ((V+1)^(1-s) - 1))^(1/(1-s)) >= 1. In place on `u`."""
  x = np.multiply(u, world.span[:, None], out=u)
  np.log1p(x, out=x)
  x /= world.tail[:, None]
  np.exp(x, out=x)
  x -= 1
  np.minimum(x, world.vocab[:, None] - 1.0, out=x)
  return x.astype(np.uint32)


def _integers(world: _World, activity: np.ndarray, noise: np.ndarray, sign_draw: np.ndarray) -> np.ndarray:
  mu, sigma, load = world.integer_params[:3, :, None]
  z = mu + sigma * (load * activity + np.sqrt(1 - load ** 2) * noise)
  ints = np.clip(np.floor(np.expm1(z)), 0, MAX_INTEGER).astype(np.int64)
  share, two, three = NEGATIVE_I2
  ints[1] = np.where(sign_draw < share, -1 - (sign_draw < two + three) - (sign_draw < three), ints[1])
  return ints


def _logit(world: _World, chunk: _Chunk) -> np.ndarray:
  """The planted logit without the bias (float64): id effects, interactions and integer effects, all computed from
  the values written in the row."""
  ranks = chunk.ranks
  effects = _byte_sum(ranks ^ world.effect_salt[:, None]).astype(np.float32) - np.float32(_EFFECT_MEAN)
  effects *= world.effect_scale[_rank_bands(ranks, chunk.cat_missing) + _BAND_OFFSETS]
  logit = effects.sum(axis=0, dtype=np.float64)   # summed field by field: the same on every machine (no BLAS)
  for (a, b), salt in zip(world.pairs, world.pair_salt):
    logit += world.interaction_std * _effect(_mix32(ranks[a] ^ salt) + ranks[b])
  mu, _, _, weight, missing_effect = world.integer_params
  for j in np.flatnonzero((weight != 0) | (missing_effect != 0)):
    centred = np.log1p(np.maximum(chunk.ints[j], 0)) - mu[j]
    logit += np.where(chunk.int_missing[j], missing_effect[j], weight[j] * centred)
  return logit


def _rank_bands(ranks: np.ndarray, missing: np.ndarray) -> np.ndarray:
  """floor(log2(rank + 1)) (0..32, from the float32 exponent); 0 for a missing value (a frequent token)."""
  bands = ((ranks.astype(np.float32) + np.float32(1)).view(np.uint32) >> np.uint32(23)) - np.uint32(127)
  bands[missing] = 0
  return bands


def hex_values(field: int, ranks: np.ndarray) -> np.ndarray:
  """The 32-bit values written (as 8 hex digits) for the ids `ranks` of field C{field + 1}: bijective in the rank."""
  return _mix32(np.asarray(ranks).astype(np.uint32) + _HEX_SALT[field])


_LABEL_UNITS = tsv_units.units(["0", "1"])


def _text(chunk: _Chunk, labels: np.ndarray) -> bytearray:
  """The chunk's lines: label, tab-prefixed integers and categorical values (8 hex digits of the field-salted mix
  of the rank), newline; built field-major in units (rec_jax/data/generators/tsv_units.py)."""
  n = len(labels)
  groups = [tsv_units.integer_groups(chunk.ints[j]) for j in range(NUM_INTEGER)]
  units = np.empty((2 + sum(groups) + 3 * NUM_CATEGORICAL, n), dtype=np.uint32)
  units[0] = _LABEL_UNITS[labels]
  row = 1
  for j, count in enumerate(groups):
    tsv_units.integer_units(chunk.ints[j], chunk.int_missing[j], units[row:row + count])
    row += count
  tsv_units.hex_units(_mix32(chunk.ranks + _HEX_SALT[:, None]), chunk.cat_missing,
                      units[row:-1].reshape(NUM_CATEGORICAL, 3, n))
  units[-1] = tsv_units.NEWLINE_UNIT
  return tsv_units.join_lines(units)


@dataclasses.dataclass
class _Rows:
  """One chunk's output: its text, planted click probabilities, clicks and its draws (the ids, to count them)."""
  text: bytearray
  probability: np.ndarray
  clicks: int
  chunk: _Chunk


def _make_chunk(world: _World, spec: CriteoSpec, index: int) -> _Rows:
  chunk = _draw(world, np.random.default_rng([spec.seed, index]))
  chunk = chunk.head(min(CHUNK_ROWS, spec.rows - index * CHUNK_ROWS))
  probability = _sigmoid(_logit(world, chunk) + world.bias)
  labels = (chunk.uniform < probability).astype(np.uint8)
  return _Rows(_text(chunk, labels), probability.astype(np.float32), int(labels.sum()), chunk)


def _chunks(world: _World, spec: CriteoSpec, block_rows: int, workers: int) -> Iterator[Tuple[int, _Rows]]:
  """(first row, rows) of every chunk, in order. With `workers` > 1, threads make the next chunks meanwhile (numpy
  releases the GIL in its loops), at most `block_rows` rows (whole chunks, at least one per worker) at a time."""
  count = -(-spec.rows // CHUNK_ROWS)
  if workers == 1:
    for index in range(count):
      yield index * CHUNK_ROWS, _make_chunk(world, spec, index)
    return
  ahead = max(workers, block_rows // CHUNK_ROWS)
  with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
    pending = collections.deque()
    for index in range(count):
      pending.append(pool.submit(_make_chunk, world, spec, index))
      if len(pending) == ahead:
        yield (index - ahead + 1) * CHUNK_ROWS, pending.popleft().result()
    for first in range(count - len(pending), count):
      yield first * CHUNK_ROWS, pending.popleft().result()


class _DistinctIds:
  """Exact counts of the distinct ids seen per field: one bool per id and one for the missing token (when the
  vocabularies are small enough)."""

  def __init__(self, vocab: Sequence[int]):
    self.seen = [np.zeros(v + 1, dtype=bool) for v in vocab] if sum(vocab) <= COUNT_DISTINCT_LIMIT else None

  def add(self, chunk: _Chunk) -> None:
    if self.seen is not None:
      for k, seen in enumerate(self.seen):
        seen[chunk.ranks[k]] = True

  def counts(self) -> Optional[List[int]]:
    return None if self.seen is None else [int(s[:-1].sum()) for s in self.seen]


class _Background:
  """Runs tasks in one thread, in order, one at a time (a file write and numpy release the GIL): the next chunk is
  made while the last one is stored."""

  def __init__(self):
    self.pool, self.pending = concurrent.futures.ThreadPoolExecutor(max_workers=1), None

  def run(self, task, *args) -> None:
    self.wait()
    self.pending = self.pool.submit(task, *args)

  def wait(self) -> None:
    if self.pending is not None:
      pending, self.pending = self.pending, None
      pending.result()

  def __enter__(self) -> "_Background":
    return self

  def __exit__(self, *exc) -> None:
    try:
      self.wait()
    finally:
      self.pool.shutdown()


def _store(rows: _Rows, first: int, f, distinct: _DistinctIds, oracle: Optional[np.ndarray]) -> None:
  """One chunk's text written, its ids counted and its planted probabilities saved (from row `first` on)."""
  f.write(rows.text)
  distinct.add(rows.chunk)
  if oracle is not None:
    oracle[first:first + len(rows.probability)] = rows.probability


def write(spec: CriteoSpec, path: str, block_rows: int = DEFAULT_BLOCK_ROWS, oracle_path: Optional[str] = None,
          workers: int = 1) -> Dict[str, object]:
  """Writes `spec.rows` impressions to `path` (a directory gets `train.txt`) and, with `oracle_path`, their planted
  click probabilities as a float32 .npy; both appear only when complete (written as `.partial`, then renamed).
  `block_rows` (rounded down to whole chunks, at least one) and `workers` (threads) change speed and memory, never
  the output. Returns the summary: path, rows, clicks, ctr, bias, seconds, rows_per_second, bytes, distinct_ids (per
  field, or None for vocabularies beyond COUNT_DISTINCT_LIMIT ids)."""
  for name, value in (("block_rows", block_rows), ("workers", workers)):
    if not _is_int(value) or value < 1:
      raise UserError(f"{name}={value!r} must be an integer >= 1")
  if not isinstance(path, (str, os.PathLike)) or not str(path):
    raise UserError(f"out={path!r} must name the file to write (a directory gets train.txt)")
  path = os.fspath(path)
  if os.path.isdir(path):
    path = os.path.join(path, "train.txt")
  for name, value in (("out", path), ("oracle", oracle_path)):
    folder = os.path.dirname(os.path.abspath(value)) if value else ""
    if value and not os.path.isdir(folder):
      raise UserError(f"{name}={value}: the directory {folder} does not exist")
  if oracle_path and os.path.isdir(oracle_path):
    raise UserError(f"oracle={oracle_path} is a directory; name the .npy file to write")
  if oracle_path and os.path.realpath(oracle_path) == os.path.realpath(path):
    # Both would be written through one file (the oracle is memory-mapped): a crash, not a file.
    raise UserError(f"oracle={oracle_path} is the file out={path} too; give the oracle its own .npy file")
  start = time.perf_counter()
  world = _build_world(spec)
  distinct = _DistinctIds(spec.vocab_sizes)
  partial, oracle_partial = path + ".partial", (oracle_path + ".partial" if oracle_path else None)
  clicks, size = 0, 0
  try:
    oracle = (np.lib.format.open_memmap(oracle_partial, mode="w+", dtype=np.float32, shape=(spec.rows,))
              if oracle_partial else None)
    with open(partial, "wb") as f, _Background() as background:
      for first, rows in _chunks(world, spec, block_rows, workers):
        background.run(_store, rows, first, f, distinct, oracle)
        size += len(rows.text)
        clicks += rows.clicks
    if oracle is not None:
      oracle.flush()
      del oracle
      os.replace(oracle_partial, oracle_path)
    os.replace(partial, path)
  except BaseException:
    for p in (partial, oracle_partial):
      if p and os.path.exists(p):
        os.remove(p)
    raise
  seconds = time.perf_counter() - start
  return dict(path=path, oracle_path=oracle_path, rows=spec.rows, clicks=clicks, ctr=clicks / spec.rows,
              bias=world.bias, seconds=seconds, rows_per_second=spec.rows / max(seconds, 1e-9), bytes=size,
              distinct_ids=distinct.counts())


def summary_line(summary: Dict[str, object]) -> str:
  """The one line the command prints."""
  distinct = summary["distinct_ids"]
  seen = f", {sum(distinct):,} distinct ids" if distinct is not None else ""
  oracle = f"; oracle {summary['oracle_path']}" if summary["oracle_path"] else ""
  return (f"wrote {summary['rows']:,} rows to {summary['path']} ({summary['bytes'] / 2 ** 20:.1f} MiB): "
          f"{summary['clicks']:,} clicks (ctr {summary['ctr']:.4f}){seen}, {summary['seconds']:.1f} s, "
          f"{summary['rows_per_second']:,.0f} rows/s{oracle}")


def _integer(text: str) -> int:
  """An integer flag: an optional '-' and ASCII digits (int() also takes "1_000", "+5" and other scripts' digits)."""
  t = text.strip()
  if not t.lstrip("-").isascii() or not t.lstrip("-").isdigit() or t.count("-") > 1 or "-" in t[1:]:
    raise ValueError(text)
  return int(t)


_integer.__name__ = "int"   # argparse's message: "invalid int value: '1_000'"


class _Parser(argparse.ArgumentParser):
  """argparse with a bad argument as a UserError (one `error:` line, exit code 1) instead of usage and exit 2."""

  def error(self, message: str):
    raise UserError(message)


def _parser() -> _Parser:
  p = _Parser(prog="python -m rec_jax.data.generators.criteo_like",
              description="Writes a Criteo Kaggle-format train.txt with a planted click model.")
  p.add_argument("--rows", type=_integer, required=True, help="impressions (lines) to write")
  p.add_argument("--out", required=True, help="the file to write (a directory gets train.txt)")
  p.add_argument("--seed", type=_integer, default=0)
  p.add_argument("--ctr", type=float, default=0.25, help="target click rate")
  p.add_argument("--zipf", type=float, default=1.1, help="power-law exponent of the ids")
  p.add_argument("--total_vocab", type=_integer, default=0,
                 help="scale the Kaggle vocabularies to this many ids in all (0: Kaggle's own, 33.8M)")
  p.add_argument("--vocab_sizes", default="", help="26 comma-separated vocabulary sizes (C1..C26)")
  p.add_argument("--oracle", default="", help="also write the planted click probabilities to this .npy")
  p.add_argument("--block_rows", type=_integer, default=DEFAULT_BLOCK_ROWS, help="rows formatted and written at once")
  p.add_argument("--workers", type=_integer, default=1, help="threads making chunks (the output is the same)")
  return p


def _vocab_from_args(args: argparse.Namespace) -> Tuple[int, ...]:
  if args.vocab_sizes and args.total_vocab:
    raise UserError("give --vocab_sizes or --total_vocab, not both")
  if args.vocab_sizes:
    try:
      return tuple(_integer(v) for v in args.vocab_sizes.split(","))
    except ValueError:
      raise UserError(f"vocab_sizes={args.vocab_sizes!r} must be 26 comma-separated integers") from None
  return scaled_vocab(args.total_vocab) if args.total_vocab else KAGGLE_VOCAB


def main(argv: Optional[Sequence[str]] = None) -> int:
  """The command line (`argv` without the program name); its exit code."""
  try:
    args = _parser().parse_args(argv)
    spec = CriteoSpec(rows=args.rows, seed=args.seed, vocab_sizes=_vocab_from_args(args), ctr=args.ctr,
                      zipf=args.zipf)
    summary = write(spec, args.out, block_rows=args.block_rows, oracle_path=args.oracle or None,
                    workers=args.workers)
  except (UserError, OSError) as e:
    if os.environ.get("RECJAX_TRACEBACK"):
      raise
    message = describe_os_error(e) if isinstance(e, OSError) else str(e)
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1
  print(summary_line(summary), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
