"""Fingerprints of a run's prepared data: a digest per split of the governed columns, and of the feature processor
file fitted on them, saved in the workdir (`data_fingerprint.json`) when the processor is fitted and compared each
time the run is prepared again (a resume, rec_jax.analysis). Data that changed since (a data file edited, a dataset
rebuilt with other rows) would be transformed with vocabularies and statistics fitted on the old data and its
results silently wrong: it is refused, naming the split that changed."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict

import numpy as np

from rec_jax.errors import UserError
from rec_jax.workdir import DATA_FINGERPRINT_FILE, PROCESSOR_FILE

Columns = Dict[str, np.ndarray]


def _update_strings(h, values) -> None:
  h.update("\x1f".join(map(str, values)).encode("utf-8", "surrogatepass"))


def split_digest(cols: Columns) -> dict:
  """{rows, sha256} of one split's columns (names, dtypes and values; list columns by lengths and items)."""
  h = hashlib.sha256()
  rows = len(next(iter(cols.values()))) if cols else 0
  for name in sorted(cols):
    values = cols[name]
    h.update(f"{name}|{values.dtype}|{len(values)}|".encode())
    if values.dtype != object:
      h.update(np.ascontiguousarray(values).tobytes())
    elif len(values) and isinstance(values[0], (list, tuple, np.ndarray)):
      h.update(np.fromiter((len(v) for v in values), np.int64, len(values)).tobytes())
      _update_strings(h, (item for v in values for item in v))
    else:
      _update_strings(h, values)
  return {"rows": int(rows), "sha256": h.hexdigest()}


def file_digest(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def write_fingerprint(workdir: str, splits: Dict[str, dict], processor_file: str) -> None:
  """Records `splits` (split_digest per split) and the digest of the saved processor `processor_file`."""
  path = os.path.join(workdir, DATA_FINGERPRINT_FILE)
  record = {"splits": splits, "processor_sha256": file_digest(processor_file)}
  with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  os.replace(path + ".tmp", path)


def check_fingerprint(workdir: str, splits: Dict[str, dict], data_source: str) -> bool:
  """Compares `splits` and the processor file with what the run recorded; raises UserError naming what changed.
  False when the workdir has no record (a run from before fingerprints: nothing to compare)."""
  path = os.path.join(workdir, DATA_FINGERPRINT_FILE)
  if not os.path.exists(path):
    return False
  try:
    with open(path) as f:
      saved = json.load(f)
    saved_splits, saved_processor = saved["splits"], saved["processor_sha256"]
  except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
    raise UserError(f"{path} is damaged ({e}); use a new --workdir") from None
  changed = []
  for name in sorted(set(saved_splits) | set(splits)):
    old, new = saved_splits.get(name), splits.get(name)
    if old is None or new is None:
      changed.append(f"split {name!r} {'appeared' if old is None else 'disappeared'}")
    elif old["rows"] != new["rows"]:
      changed.append(f"split {name!r} now has {new['rows']} rows (it had {old['rows']})")
    elif old["sha256"] != new["sha256"]:
      changed.append(f"split {name!r} has the same {new['rows']} rows count but other content")
  if changed:
    raise UserError(f"the data of the run in {workdir} changed since it started ({'; '.join(changed)}; data: "
                    f"{data_source}): resuming would transform it with the vocabularies and statistics fitted on the "
                    "old data. Restore the original data, or use a new --workdir")
  if file_digest(os.path.join(workdir, PROCESSOR_FILE)) != saved_processor:
    raise UserError(f"{os.path.join(workdir, PROCESSOR_FILE)} was modified after the run fitted it; restore it, "
                    "or use a new --workdir")
  return True
