"""The text cache: what frozen BERT blocks compute for every distinct item text, computed once per (weights, texts).

Frozen blocks at the bottom of the encoder (text/inputs.py's `TextInput.cached_blocks`) give the same output at
every step, so before training the distinct token rows of all splits are run through them once:
- a fully frozen encoder (`model.text.mode=frozen`): pooled vectors, `Texts.pooled` [num_texts, hidden]; BERT then
  never runs during training;
- frozen bottom blocks under trainable ones (`top_layers`, `lora` on the top blocks): their output,
  `Texts.hidden` [num_texts, max_len, hidden] (zero at padding) with `Texts.mask`; training runs only the blocks
  above.
Search queries are cached the same way with the encoder that reads them. This is a data-side step: the spec says
what to compute, the caller hands over the frozen encoders (the model's own), and each split's token tables are
replaced by these tables, which batches carry like any text table (data/pipeline.py).
A table is stored under `model.text.cache_dir` (default `<workdir>/text_cache`) in a file named by a hash of the
frozen weights it used, the pooling, the compute dtype, the number of blocks and the token rows, so resuming,
re-running and every sweep run pointed at the same cache_dir reuse it; anything that changes the result changes
the name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Dict, Optional, Tuple

import numpy as np
from absl import logging
from flax import nnx

from rec_jax.batch import TEXT_GROUPS, FeatureArrays, Texts
from rec_jax.errors import UserError
from rec_jax.text.bert import BertEncoder
from rec_jax.text.encode import encode_hidden, encode_tokens
from rec_jax.text.frozen import fingerprint
from rec_jax.text.inputs import TextInput
from rec_jax.text.modes import build_encoder
from rec_jax.text.options import TextOptions
from rec_jax.workdir import TEXT_CACHE_DIR

FORMAT_VERSION = 1


@dataclasses.dataclass
class CacheInfo:
  path: str
  reused: bool
  num_texts: int
  blocks: int  # Frozen blocks whose output is cached; all of them = pooled vectors.
  megabytes: float
  build_seconds: float  # 0 when reused.


def cache_dir(options: TextOptions, workdir: str) -> str:
  return os.path.expanduser(options.cache_dir or os.path.join(workdir, TEXT_CACHE_DIR))


def _distinct_rows(splits: Dict[str, FeatureArrays], group: str) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """The distinct (ids | mask | types) rows of every split's `group` table [u, 3 * max_len], and per split the row
  of that table each of its texts is."""
  names = sorted(splits)
  tables = [getattr(splits[s].texts, group) for s in names]
  stacked = [np.concatenate([t.ids, t.mask, t.types], axis=1).astype(np.int32) for t in tables]
  unique, inverse = np.unique(np.concatenate(stacked), axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  bounds = np.cumsum([0] + [len(t) for t in stacked])
  return unique, {s: inverse[bounds[i]:bounds[i + 1]] for i, s in enumerate(names)}


def _cache_key(weights_sha: str, options: TextOptions, blocks: int, pooled: bool, rows: np.ndarray) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps({"version": FORMAT_VERSION, "weights": weights_sha, "blocks": blocks, "pooled": pooled,
                            "pooling": options.pooling if pooled else None,
                            "dtype": options.dtype, "rows": list(rows.shape)}).encode())
  digest.update(np.ascontiguousarray(rows).tobytes())
  return digest.hexdigest()[:32]


def _load(path: str, rows: np.ndarray, shape):
  """The cached table if `path` holds one for exactly these rows, else None (a damaged file is rebuilt)."""
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as f:
      stored_rows, table = f["rows"], f["embeddings"]
  except (OSError, ValueError, KeyError) as e:
    logging.warning("text cache %s is unreadable (%s); rebuilding it", path, e)
    return None
  if not np.array_equal(stored_rows, rows) or table.shape != shape:
    logging.warning("text cache %s does not hold these texts (hash collision or a damaged file); rebuilding", path)
    return None
  return table


def cache_texts(spec: TextInput, options: TextOptions, workdir: str, splits: Dict[str, FeatureArrays],
                encoders: Dict[str, Optional[BertEncoder]], seed: int
                ) -> Tuple[Dict[str, FeatureArrays], Dict[str, CacheInfo]]:
  """Replaces each split's token tables of the text groups in `encoders` (item `text`, search `query`) by what the
  spec's frozen blocks compute of them, from the cache or freshly computed with `encoders[group]`; where that is
  None (a fully frozen tower keeps no encoder), with the encoder `model.text` builds (from `seed`). Returns the new
  splits and per group what was cached."""
  if not spec.cached_blocks:
    raise UserError(f"model.text.mode={options.mode!r} has no frozen blocks to cache")
  first = next(iter(splits.values())).texts
  groups = [g for g in TEXT_GROUPS if g in encoders and getattr(first, g) is not None]
  tables = {name: arrays.texts for name, arrays in splits.items()}
  infos = {}
  for group in groups:
    encoder = encoders[group]
    if encoder is None:
      encoder = build_encoder(options, spec.bert, nnx.Rngs(seed))
    per_split, infos[group] = _cache_group(options, workdir, splits, group, encoder, spec.cached_blocks)
    for name, texts in per_split.items():
      tables[name] = tables[name].replace(**{group: texts})
  return {name: dataclasses.replace(arrays, texts=tables[name]) for name, arrays in splits.items()}, infos


def _cache_group(options: TextOptions, workdir: str, splits: Dict[str, FeatureArrays], group: str,
                 encoder: BertEncoder, blocks: int) -> Tuple[Dict[str, Texts], CacheInfo]:
  """One group's cached table per split (`Texts.pooled`, or `Texts.hidden` + `Texts.mask`)."""
  pooled = blocks == encoder.config.num_layers
  frozen_part = [nnx.state(encoder.embeddings)] + [nnx.state(b) for b in list(encoder.encoder.layer)[:blocks]]
  rows, inverse = _distinct_rows(splits, group)
  max_len, hidden = rows.shape[1] // 3, encoder.config.hidden_size
  ids, mask, types = rows[:, :max_len], rows[:, max_len:2 * max_len], rows[:, 2 * max_len:]
  shape = (len(rows), hidden) if pooled else (len(rows), max_len, hidden)
  directory = cache_dir(options, workdir)
  path = os.path.join(directory, f"{_cache_key(fingerprint(frozen_part), options, blocks, pooled, rows)}.npz")
  table = _load(path, rows, shape)
  info = CacheInfo(path, reused=table is not None, num_texts=len(rows), blocks=blocks,
                   megabytes=float(np.prod(shape)) * 4 / 2 ** 20, build_seconds=0.0)
  if table is None:
    start = time.perf_counter()
    if pooled:
      table = encode_tokens(encoder, ids, mask, types, batch_size=256, pooling=options.pooling, normalize=False)
    else:
      table = encode_hidden(encoder, ids, mask, types, num_layers=blocks, batch_size=256)
    info.build_seconds = time.perf_counter() - start
    tmp = f"{path}.{os.getpid()}.tmp.npz"  # Written aside and renamed: concurrent sweep runs never see half a file.
    try:
      os.makedirs(directory, exist_ok=True)
      np.savez(tmp, rows=rows, embeddings=table)
      os.replace(tmp, path)
    except OSError as e:
      raise UserError(f"cannot write the text cache to {directory!r} (model.text.cache_dir, default "
                      f"<workdir>/text_cache): {e}") from e
  logging.info("%s cache %s: %d texts, output of %d frozen blocks%s (%.0f MB), %s", group, path, len(rows), blocks,
               " pooled" if pooled else "", info.megabytes,
               "reused" if info.reused else f"built in {info.build_seconds:.1f} s")
  out = {name: Texts(pooled=table[index]) if pooled else Texts(hidden=table[index], mask=mask[index])
         for name, index in inverse.items()}
  return out, info
