"""An export directory read back (serving/export_run.py writes it): manifest, functions, feature processor,
tokenizer, catalogue, known users and the monitoring reference. Reads JSON and arrays only: no config file is
executed and no training code runs.

A damaged export is one error naming the file: the manifest lists every other file's size and sha256, checked when
the bundle is opened (a missing, truncated or bit-flipped file); every file is also checked where it is read."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from typing import Dict, Optional

import ml_collections
import numpy as np

from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.fingerprint import file_digest
from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.serving.layout import FORMAT, ITEMS_FILE, MANIFEST, REFERENCE_FILE, TOKENIZER_DIR, USERS_FILE
from rec_jax.serving.functions import Function, load_weights
from rec_jax.serving.signature import Signature, rows_inputs
from rec_jax.text.tokenizer import WordPieceTokenizer
from rec_jax.workdir import PROCESSOR_FILE


REQUIRED = ("format", "model_version", "task", "model", "signature", "features", "functions", "weights")


def _npz(path: str) -> Dict[str, np.ndarray]:
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise UserError(f"{path} is missing or damaged ({e}); export the run again") from None


def json_file(path: str, what: str) -> dict:
  try:
    with open(path, "rb") as f:
      value = json.loads(f.read())
  except FileNotFoundError:
    raise UserError(f"{path} is missing: the export is incomplete; export the run again") from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise UserError(f"{path} is damaged: not valid JSON ({e}); export the run again") from None
  if not isinstance(value, dict):
    raise UserError(f"{path} holds no {what} (a JSON {type(value).__name__}); export the run again")
  return value


def manifest_digest(manifest: dict) -> str:
  """The sha256 of the manifest's content (without its own `sha256`), as canonical JSON (as export_run.py writes
  it)."""
  body = {k: v for k, v in manifest.items() if k != "sha256"}
  return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_files(directory: str, files: dict) -> None:
  """Each file the manifest lists has its recorded size and sha256, else an error naming the first that differs."""
  for rel, want in files.items():
    path = os.path.join(directory, rel)
    if not os.path.isfile(path):
      raise UserError(f"{path} is missing: the export is incomplete; export the run again")
    size = os.path.getsize(path)
    if size != want["bytes"]:
      raise UserError(f"{path} is damaged: {size} bytes, the manifest records {want['bytes']}; export the run again")
    if file_digest(path) != want["sha256"]:
      raise UserError(f"{path} is damaged: its sha256 differs from the manifest's; export the run again")


class Bundle:
  """`Bundle(directory)`: an export, its functions loaded on first use."""

  def __init__(self, directory: str):
    self.directory = directory
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(directory):
      raise UserError(f"--export={directory} does not exist; write an export with "
                      "`python -m rec_jax.export --workdir=RUN --out=DIR`")
    if not os.path.isdir(directory):
      raise UserError(f"--export={directory} is a file, not an export directory")
    if not os.path.exists(path):
      raise UserError(f"{directory} is not a rec_jax export (no {MANIFEST}); write one with "
                      "`python -m rec_jax.export --workdir=RUN --out=DIR`")
    self.manifest = json_file(path, "export manifest")
    if "format" not in self.manifest:
      raise UserError(f"{path} is damaged: it has no format; export the run again")
    if self.manifest.get("format") != FORMAT:
      raise UserError(f"{path} has format {self.manifest.get('format')!r}; this rec_jax reads {FORMAT!r}")
    if "sha256" in self.manifest and manifest_digest(self.manifest) != self.manifest["sha256"]:
      raise UserError(f"{path} is damaged: its content differs from the digest it records; export the run again")
    missing = [k for k in REQUIRED if k not in self.manifest]
    if missing:
      raise UserError(f"{path} is damaged: it lacks {', '.join(missing)}; export the run again")
    try:
      self.signature = Signature.from_json(self.manifest["signature"])
    except (TypeError, KeyError, ValueError) as e:
      raise UserError(f"{path} is damaged: its signature is unreadable ({type(e).__name__}: {e}); export the run "
                      "again") from None
    if "files" in self.manifest:   # exports written before the manifest recorded its files are read unchecked
      check_files(directory, self.manifest["files"])
    self._weights: Dict[str, list] = {}
    self._functions: Dict[str, Function] = {}

  @property
  def version(self) -> str:
    return self.manifest["model_version"]

  def has(self, name: str) -> bool:
    return name in self.manifest["functions"]

  def function(self, name: str) -> Function:
    if name not in self._functions:
      spec = self.manifest["functions"].get(name)
      if spec is None:
        raise UnknownNameError(f"the export has no function {name!r}; it has {sorted(self.manifest['functions'])}")
      weight_set = spec["weights"]
      if weight_set not in self._weights:
        w = self.manifest["weights"][weight_set]
        self._weights[weight_set] = load_weights(os.path.join(self.directory, w["file"]), w["dtypes"])
      self._functions[name] = Function.read(name, os.path.join(self.directory, spec["file"]),
                                            self._weights[weight_set], spec["inputs"])
    return self._functions[name]

  @functools.cached_property
  def processor(self) -> FeatureProcessor:
    options = FeatureOptions.from_config(ml_collections.ConfigDict(self.manifest["features"]), where="features")
    processor = FeatureProcessor.load(os.path.join(self.directory, PROCESSOR_FILE), options)
    if options.text or options.query:
      try:
        tokenizer = WordPieceTokenizer(os.path.join(self.directory, TOKENIZER_DIR))
      except OSError:
        raise
      except Exception as e:  # noqa: BLE001  (the Rust tokenizers library raises a bare Exception on a bad file)
        raise UserError(f"{self.directory}/{TOKENIZER_DIR}/tokenizer.json is damaged ({e}); export the run "
                        "again") from None
      if tokenizer.sha256 != processor.tokenizer_sha256:
        raise UserError(f"{self.directory}/{TOKENIZER_DIR}/tokenizer.json is not the tokenizer the run was fitted "
                        "with; export the run again")
      processor._tokenizer = tokenizer  # pylint: disable=protected-access  (the export's own copy)
    return processor

  @functools.cached_property
  def items(self) -> Dict[str, np.ndarray]:
    return _npz(os.path.join(self.directory, ITEMS_FILE))

  @functools.cached_property
  def users(self) -> Dict[str, np.ndarray]:
    return _npz(os.path.join(self.directory, USERS_FILE))

  @functools.cached_property
  def seen(self) -> ItemSets:
    return ItemSets(self.users["seen_indptr"], self.users["seen_indices"])

  @functools.cached_property
  def reference(self) -> dict:
    path = os.path.join(self.directory, REFERENCE_FILE)
    reference = json_file(path, "monitoring reference")
    if not {"inputs", "score"} <= reference.keys():
      raise UserError(f"{path} is damaged: it lacks inputs or score; export the run again")
    return reference

  def rows_inputs(self, rows, texts, side: str = "score", names=None) -> Dict[str, np.ndarray]:
    """serving/signature.py's `rows_inputs` with this export's text tower (tests; the catalogue at export)."""
    fn = self.function("text_vectors") if self.has("text_vectors") else None
    return rows_inputs(rows, texts, self.signature, side, fn, names)

  @functools.cached_property
  def _user_rows(self) -> Dict[str, int]:
    return {str(u): r for r, u in enumerate(self.users["ids"])}

  def user_index(self, raw_id: str) -> Optional[int]:
    """The row of a known user in users.npz, or None."""
    return self._user_rows.get(str(raw_id))
