"""An export directory read back (serving/export_run.py writes it): manifest, functions, feature processor,
tokenizer, catalogue, known users and the monitoring reference. Reads JSON and arrays only: no config file is
executed and no training code runs."""

from __future__ import annotations

import functools
import json
import os
from typing import Dict, Optional

import ml_collections
import numpy as np

from rec_jax.data.features import FeatureOptions, FeatureProcessor
from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UnknownNameError, UserError
from rec_jax.serving.layout import FORMAT, ITEMS_FILE, MANIFEST, REFERENCE_FILE, TOKENIZER_DIR, USERS_FILE
from rec_jax.serving.functions import Function, load_weights
from rec_jax.serving.signature import Signature, rows_inputs
from rec_jax.text.tokenizer import WordPieceTokenizer
from rec_jax.workdir import PROCESSOR_FILE


def _npz(path: str) -> Dict[str, np.ndarray]:
  try:
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise UserError(f"{path} is missing or damaged ({e}); export the run again") from None


class Bundle:
  """`Bundle(directory)`: an export, its functions loaded on first use."""

  def __init__(self, directory: str):
    self.directory = directory
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
      raise FileNotFoundError(f"{directory} is not a rec_jax export (no {MANIFEST}); write one with "
                              "`python -m rec_jax.export --workdir=RUN --out=DIR`")
    try:
      with open(path) as f:
        self.manifest = json.load(f)
    except json.JSONDecodeError as e:
      raise UserError(f"{path} is not valid JSON ({e})") from None
    if self.manifest.get("format") != FORMAT:
      raise UserError(f"{path} has format {self.manifest.get('format')!r}; this rec_jax reads {FORMAT!r}")
    self.signature = Signature.from_json(self.manifest["signature"])
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
      tokenizer = WordPieceTokenizer(os.path.join(self.directory, TOKENIZER_DIR))
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
    with open(os.path.join(self.directory, REFERENCE_FILE)) as f:
      return json.load(f)

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
