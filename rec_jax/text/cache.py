"""The text cache: what frozen BERT blocks compute for every distinct item text, computed once per (weights, texts).

Frozen blocks at the bottom of the encoder (see `modes.cached_blocks`) give the same output at every step, so
before training the distinct token rows of all splits are run through them once:
- a fully frozen encoder (`model.text.mode=frozen`): pooled vectors, `text_embedding` [num_texts, hidden]; BERT then
  never runs during training;
- frozen bottom blocks under trainable ones (`top_layers`, `lora` on the top blocks): their output,
  `text_hidden` [num_texts, max_len, hidden] (zero at padding) with `text_mask`; training runs only the blocks above.
Search queries (`query_*` tables) are cached the same way with the encoder that reads them.
Each split's token tables are replaced by these tables, which batches carry like any text table (data/pipeline.py).
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

from rec_jax.data.features import TEXT_GROUPS, FeatureArrays
from rec_jax.text.frozen import fingerprint
from rec_jax.text.modes import build_encoder, cached_blocks
from rec_jax.text.bert import BertEncoder
from rec_jax.text.encode import encode_hidden, encode_tokens
from rec_jax.workdir import TEXT_CACHE_DIR

TOKEN_TABLES = ("ids", "mask", "types")
FORMAT_VERSION = 1


@dataclasses.dataclass
class CacheInfo:
  path: str
  reused: bool
  num_texts: int
  blocks: int  # Frozen blocks whose output is cached; all of them = pooled vectors.
  megabytes: float
  build_seconds: float  # 0 when reused.


def cache_dir(text_cfg, workdir: str) -> str:
  return os.path.expanduser(text_cfg.get("cache_dir", "") or os.path.join(workdir, TEXT_CACHE_DIR))


def _distinct_rows(splits: Dict[str, FeatureArrays], group: str) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """The distinct (ids | mask | types) rows of every split's `group` table [u, 3 * max_len], and per split the row
  of that table each of its texts is."""
  names = sorted(splits)
  stacked = [np.concatenate([splits[s].texts[f"{group}_{k}"] for k in TOKEN_TABLES], axis=1).astype(np.int32)
             for s in names]
  unique, inverse = np.unique(np.concatenate(stacked), axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  bounds = np.cumsum([0] + [len(t) for t in stacked])
  return unique, {s: inverse[bounds[i]:bounds[i + 1]] for i, s in enumerate(names)}


def _cache_key(weights_sha: str, text_cfg, blocks: int, pooled: bool, rows: np.ndarray) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps({"version": FORMAT_VERSION, "weights": weights_sha, "blocks": blocks, "pooled": pooled,
                            "pooling": text_cfg.pooling if pooled else None,
                            "dtype": text_cfg.get("dtype", "float32"), "rows": list(rows.shape)}).encode())
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


def attach_text_cache(config, workdir: str, splits: Dict[str, FeatureArrays], vocab_size: int,
                      encoders: Optional[Dict[str, BertEncoder]] = None
                      ) -> Tuple[Dict[str, FeatureArrays], Dict[str, CacheInfo]]:
  """Replaces each split's token tables by the frozen blocks' output, from the cache or freshly computed.

  Every text group the splits hold (item `text`, search `query`; data/features.py) is cached with `encoders[group]`,
  the model's own encoder for it (`HybridRecModel.text_encoders`), or, where none is given (a fully frozen tower
  keeps no encoder), the encoder `model.text` builds. Returns the new splits and per group what was cached."""
  text_cfg = config.model.text
  blocks = cached_blocks(text_cfg, config.features, vocab_size)
  if not blocks:
    raise ValueError(f"model.text.mode={text_cfg.mode!r} has no frozen blocks to cache")
  present = [g for g in TEXT_GROUPS if f"{g}_ids" in next(iter(splits.values())).texts]
  # Only the groups the model reads (e.g. not queries that `model.query.encoder=none` ignores).
  groups = [g for g in present if encoders is None or g in encoders]
  encoders = dict(encoders or {})
  tables = {name: {k: v for k, v in arrays.texts.items() if not k.startswith(tuple(f"{g}_" for g in groups))}
            for name, arrays in splits.items()}
  infos = {}
  for group in groups:
    if encoders.get(group) is None:
      encoders[group] = build_encoder(text_cfg, config.features, vocab_size, nnx.Rngs(config.seed))
    per_split, infos[group] = _cache_group(text_cfg, workdir, splits, group, encoders[group], blocks)
    for name, texts in per_split.items():
      tables[name].update(texts)
  return {name: FeatureArrays(arrays.rows, tables[name], arrays.extras) for name, arrays in splits.items()}, infos


def _cache_group(text_cfg, workdir: str, splits: Dict[str, FeatureArrays], group: str, encoder: BertEncoder,
                 blocks: int) -> Tuple[Dict[str, Dict[str, np.ndarray]], CacheInfo]:
  """One group's cached tables per split (`<group>_embedding`, or `<group>_hidden` + `<group>_mask`)."""
  pooled = blocks == encoder.config.num_layers
  frozen_part = [nnx.state(encoder.embeddings)] + [nnx.state(b) for b in list(encoder.encoder.layer)[:blocks]]
  rows, inverse = _distinct_rows(splits, group)
  max_len, hidden = rows.shape[1] // 3, encoder.config.hidden_size
  ids, mask, types = rows[:, :max_len], rows[:, max_len:2 * max_len], rows[:, 2 * max_len:]
  shape = (len(rows), hidden) if pooled else (len(rows), max_len, hidden)
  directory = cache_dir(text_cfg, workdir)
  path = os.path.join(directory, f"{_cache_key(fingerprint(frozen_part), text_cfg, blocks, pooled, rows)}.npz")
  table = _load(path, rows, shape)
  info = CacheInfo(path, reused=table is not None, num_texts=len(rows), blocks=blocks,
                   megabytes=float(np.prod(shape)) * 4 / 2 ** 20, build_seconds=0.0)
  if table is None:
    start = time.perf_counter()
    if pooled:
      table = encode_tokens(encoder, ids, mask, types, batch_size=256, pooling=text_cfg.pooling, normalize=False)
    else:
      table = encode_hidden(encoder, ids, mask, types, num_layers=blocks, batch_size=256)
    info.build_seconds = time.perf_counter() - start
    tmp = f"{path}.{os.getpid()}.tmp.npz"  # Written aside and renamed: concurrent sweep runs never see half a file.
    try:
      os.makedirs(directory, exist_ok=True)
      np.savez(tmp, rows=rows, embeddings=table)
      os.replace(tmp, path)
    except OSError as e:
      raise ValueError(f"cannot write the text cache to {directory!r} (model.text.cache_dir, default "
                       f"<workdir>/text_cache): {e}") from e
  logging.info("%s cache %s: %d texts, output of %d frozen blocks%s (%.0f MB), %s", group, path, len(rows), blocks,
               " pooled" if pooled else "", info.megabytes,
               "reused" if info.reused else f"built in {info.build_seconds:.1f} s")
  out = {}
  for name in splits:
    index = inverse[name]
    out[name] = ({f"{group}_embedding": table[index]} if pooled
                 else {f"{group}_hidden": table[index], f"{group}_mask": mask[index]})
  return out, info
