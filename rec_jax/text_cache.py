"""The frozen text tower's embedding cache: every distinct item text encoded once per (encoder weights, texts).

In a cached `model.text.mode` (`frozen`) BERT never runs during training. Before training, the distinct token rows
of all splits are encoded with the frozen encoder (random-init from the seed, or pretrained) and pooled; each split's
token tables are replaced by the pooled vectors (`text_embedding` [num_texts, hidden]), which batches then carry like
any text table (see data/pipeline.py). The table is stored under `model.text.cache_dir` (default
`<workdir>/text_cache`) in a file named by a hash of the encoder's weights, the pooling, the compute dtype and the
token rows, so resuming, re-running and every sweep run pointed at the same cache_dir reuse it; anything that changes
the vectors changes the name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Dict, Tuple

import numpy as np
from absl import logging
from flax import nnx

from rec_jax.data.features import FeatureArrays
from rec_jax.models.frozen import fingerprint
from rec_jax.models.text_modes import build_encoder
from rec_jax.text_encode import encode_tokens

TOKEN_TABLES = ("text_ids", "text_mask", "text_types")
FORMAT_VERSION = 1


@dataclasses.dataclass
class CacheInfo:
  path: str
  reused: bool
  num_texts: int
  build_seconds: float  # 0 when reused.


def cache_dir(text_cfg, workdir: str) -> str:
  return os.path.expanduser(text_cfg.get("cache_dir", "") or os.path.join(workdir, "text_cache"))


def _distinct_rows(splits: Dict[str, FeatureArrays]) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
  """The distinct (ids | mask | types) rows of every split's text table [u, 3 * max_len], and per split the row of
  that table each of its texts is."""
  names = sorted(splits)
  stacked = [np.concatenate([splits[s].texts[k] for k in TOKEN_TABLES], axis=1).astype(np.int32) for s in names]
  unique, inverse = np.unique(np.concatenate(stacked), axis=0, return_inverse=True)
  inverse = inverse.reshape(-1)
  bounds = np.cumsum([0] + [len(t) for t in stacked])
  return unique, {s: inverse[bounds[i]:bounds[i + 1]] for i, s in enumerate(names)}


def _cache_key(encoder_sha: str, text_cfg, rows: np.ndarray) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps({"version": FORMAT_VERSION, "encoder": encoder_sha, "pooling": text_cfg.pooling,
                            "dtype": text_cfg.get("dtype", "float32"), "rows": list(rows.shape)}).encode())
  digest.update(np.ascontiguousarray(rows).tobytes())
  return digest.hexdigest()[:32]


def _load(path: str, rows: np.ndarray, hidden: int):
  """The cached table if `path` holds one for exactly these rows, else None (a damaged file is rebuilt)."""
  if not os.path.exists(path):
    return None
  try:
    with np.load(path) as f:
      stored_rows, table = f["rows"], f["embeddings"]
  except (OSError, ValueError, KeyError) as e:
    logging.warning("text cache %s is unreadable (%s); rebuilding it", path, e)
    return None
  if not np.array_equal(stored_rows, rows) or table.shape != (len(rows), hidden):
    logging.warning("text cache %s does not hold these texts (hash collision or a damaged file); rebuilding", path)
    return None
  return table


def attach_text_embeddings(config, workdir: str, splits: Dict[str, FeatureArrays],
                           vocab_size: int) -> Tuple[Dict[str, FeatureArrays], CacheInfo]:
  """Replaces each split's token tables by the frozen encoder's pooled vectors, from the cache or freshly encoded."""
  text_cfg = config.model.text
  encoder = build_encoder(text_cfg, config.features, vocab_size, nnx.Rngs(config.seed))
  rows, inverse = _distinct_rows(splits)
  max_len = rows.shape[1] // 3
  hidden = encoder.config.hidden_size
  directory = cache_dir(text_cfg, workdir)
  path = os.path.join(directory, f"{_cache_key(fingerprint(nnx.state(encoder)), text_cfg, rows)}.npz")
  table = _load(path, rows, hidden)
  info = CacheInfo(path, reused=table is not None, num_texts=len(rows), build_seconds=0.0)
  if table is None:
    start = time.perf_counter()
    table = encode_tokens(encoder, rows[:, :max_len], rows[:, max_len:2 * max_len], rows[:, 2 * max_len:],
                          batch_size=256, pooling=text_cfg.pooling, normalize=False)
    info.build_seconds = time.perf_counter() - start
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"  # Written aside and renamed: concurrent sweep runs never see half a file.
    np.savez(tmp, rows=rows, embeddings=table)
    os.replace(tmp, path)
  logging.info("text cache %s: %d texts, %s", path, len(rows),
               "reused" if info.reused else f"built in {info.build_seconds:.1f} s")
  out = {}
  for name, arrays in splits.items():
    out[name] = FeatureArrays(arrays.rows, {"text_embedding": table[inverse[name]]})
  return out, info
