"""Writes a trained run's export directory (`python -m rec_jax.export`): everything serving needs, and nothing that
needs the training code or a config file to run.

<out>/
  manifest.json            format, run, checkpoint step, config digest, metrics, versions, signature, functions,
                           every other file's size and sha256, and its own content's sha256 (serving/bundle.py
                           checks them all when it opens the export)
  config.json              the run's resolved config (a record; serving reads only the manifest)
  feature_processor.json   the train-fitted vocabularies and statistics (rec_jax/data/features.py)
  tokenizer/tokenizer.json the features' tokenizer (runs with texts or queries)
  functions/<name>.jaxexport   jax.export programs: `score` (pointwise tasks), `query` and `candidate` (models with
                           a user and an item tower), `text_form.<group>` (tokens -> the cached form of a frozen
                           text encoder); weights/<set>.npz their weights (serving/functions.py)
  items.npz                the catalogue: raw ids, each item's candidate-side inputs, train click counts
  users.npz                known users: raw ids, their query-side inputs now (last row, history with its click),
                           the items they interacted with (excluded from their recommendations)
  reference.json           the training data's distributions per input and of the scores (rec_jax.monitor)
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import platform
import shutil
from typing import Dict

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.analysis.loaded_run import LoadedRun
from rec_jax.batch import PAD, Texts
from rec_jax.data.fingerprint import file_digest
from rec_jax.data.item_sets import ItemSets
from rec_jax.errors import UserError, describe_os_error
from rec_jax.experiment import model_text_input
from rec_jax.models.options import ModelOptions
from rec_jax.serving import reference
from rec_jax.serving.bundle import manifest_digest
from rec_jax.serving.layout import (FORMAT, FUNCTIONS_DIR, ITEMS_FILE, MANIFEST, REFERENCE_FILE, TOKENIZER_DIR,
                                    USERS_FILE, WEIGHTS_DIR)
from rec_jax.serving.functions import Function, batch_dim, export_method, save_weights, write_function
from rec_jax.serving.signature import Signature, TextForm, rows_inputs
from rec_jax.text.bert import POOLINGS
from rec_jax.text.modes import build_encoder
from rec_jax.text.tokenizer import resolve_model_dir
from rec_jax.workdir import CONFIG_FILE, LOCK_FILE, PROCESSOR_FILE

SPLIT_ORDER = ("train", "validation", "test")


def text_groups(run: LoadedRun) -> Dict[str, TextForm]:
  """The text groups the model reads, each in the form its tower reads (text/inputs.py)."""
  model = run.model
  if not hasattr(model, "text_encoders"):
    return {}
  options = ModelOptions.from_model_section(run.config.model)
  spec = model_text_input(options, run.processor.cfg, run.data.vocab_sizes())
  if spec is None:
    return {}
  lengths = {"text": run.processor.cfg.text_max_length, "query": run.processor.cfg.query_max_length}
  return {group: TextForm(spec.kind, lengths[group], spec.bert.hidden_size) for group in model.text_encoders()}


def signature_of(run: LoadedRun) -> Signature:
  """The item text enters the exported functions as the text tower's vectors (kind `vectors`, computed once per
  item by `text_vectors` from the form the tower reads); the search query in the form its tower reads."""
  cfg = run.processor.cfg
  groups = text_groups(run)
  item_text = groups.get("text")
  text = TextForm("vectors", item_text.length, int(run.model.text.out_dim)) if item_text is not None else None
  return Signature(categorical=tuple(cfg.categorical), numeric=tuple(cfg.numeric),
                   history_length=int(cfg.history_length), user_features=tuple(cfg.user_features),
                   item_features=tuple(cfg.item_features), text=text, query=groups.get("query"),
                   item_text=item_text)


def _text_form_encoder(run: LoadedRun, group: str):
  """The frozen encoder whose output is the group's cached form: the model's own, or the one rec_jax/text/cache.py
  builds when the tower keeps none (a fully frozen encoder), from the run's seed."""
  encoder = run.model.text_encoders()[group]
  if encoder is None:
    options = ModelOptions.from_model_section(run.config.model)
    spec = model_text_input(options, run.processor.cfg, run.data.vocab_sizes())
    encoder = build_encoder(options.text, spec.bert, nnx.Rngs(run.config.seed))
  return encoder




def file_digests(directory: str) -> Dict[str, dict]:
  """{path relative to `directory`: {"bytes", "sha256"}} of every file under it (the manifest's `files`)."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in sorted(names):
      path = os.path.join(root, name)
      out[os.path.relpath(path, directory)] = {"bytes": os.path.getsize(path), "sha256": file_digest(path)}
  return dict(sorted(out.items()))


def _training_pid(workdir: str):
  """The pid in the workdir's lock file if a process holds the lock (it is training there), else None."""
  path = os.path.join(workdir, LOCK_FILE)
  try:
    f = open(path)   # read-only: an export may read a run it cannot write
  except OSError:
    return None
  with f:
    try:
      fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
        raise
      return f.read().strip() or "unknown"
    fcntl.flock(f, fcntl.LOCK_UN)
  return None


def check_paths(workdir: str, out: str) -> None:
  """The command's inputs, before the run is loaded: `workdir` a run's workdir that no process is training in, `out`
  a directory that neither is nor lies inside the workdir (nor holds it)."""
  if not workdir:
    raise UserError("--workdir is empty: give the workdir of a trained run")
  if not out:
    raise UserError("--out is empty: give the export directory to write")
  if not os.path.exists(workdir):
    raise UserError(f"--workdir={workdir} does not exist: give the workdir of a trained run")
  if not os.path.isdir(workdir):
    raise UserError(f"--workdir={workdir} is a file, not a run's workdir")
  config = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(config):
    raise UserError(f"--workdir={workdir} is not a rec_jax workdir (it has no {CONFIG_FILE}): give the workdir of a "
                    "trained run")
  try:
    with open(config) as f:
      saved = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise UserError(f"{config} is not valid JSON ({e}): the workdir is damaged") from None
  if not isinstance(saved, dict):
    raise UserError(f"{config} holds no config object (a JSON {type(saved).__name__}): the workdir is damaged")
  pid = _training_pid(workdir)
  if pid is not None:
    raise UserError(f"{workdir} is in use by a training process (pid {pid}); export when it has finished or been "
                    "stopped")
  run, target = os.path.realpath(workdir), os.path.realpath(out)
  if target == run or target.startswith(run + os.sep):
    raise UserError(f"--out={out} is inside the run's workdir {workdir}; export to a directory outside it")
  if run.startswith(target + os.sep):
    raise UserError(f"--out={out} holds the run's workdir {workdir}; export to a new directory outside it")
  out = os.path.abspath(out)
  if os.path.exists(out) and not os.path.exists(os.path.join(out, MANIFEST)) and \
      (not os.path.isdir(out) or os.listdir(out)):
    raise UserError(f"--out={out} exists and is not an export directory; pick a new or empty directory")
  probe = f"{out}.partial-{os.getpid()}"   # where write_export stages the export: can it be written?
  try:
    os.makedirs(probe, exist_ok=True)
    os.rmdir(probe)
  except OSError as e:
    raise UserError(f"cannot write --out={out}: {describe_os_error(e)}; pick a directory you can write") from None


def _versions() -> Dict[str, str]:
  import flax  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel
  return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__, "numpy": np.__version__,
          "python": platform.python_version()}


class _Writer:
  def __init__(self, out: str):
    self.out = out
    self.functions: Dict[str, dict] = {}
    self.weights: Dict[str, dict] = {}

  def add(self, name: str, module, body, specs, weight_set: str) -> Function:
    """Exports `body(module, inputs)` as function `name`; returns it, ready to call."""
    exported, weights, dtypes = export_method(module, body, specs)
    path = os.path.join(FUNCTIONS_DIR, f"{name}.jaxexport")
    write_function(os.path.join(self.out, path), exported)
    if weight_set not in self.weights:
      file = os.path.join(WEIGHTS_DIR, f"{weight_set}.npz")
      save_weights(os.path.join(self.out, file), weights)
      self.weights[weight_set] = {"file": file, "dtypes": dtypes,
                                  "parameters": int(sum(np.size(w) for w in weights))}
    elif self.weights[weight_set]["dtypes"] != dtypes:
      raise AssertionError(f"function {name} reads other weights than set {weight_set}")
    self.functions[name] = {"file": path, "weights": weight_set, "inputs": sorted(specs)}
    return Function(name, exported, [jnp.asarray(w) for w in weights], sorted(specs))


def write_export(run: LoadedRun, out: str) -> dict:
  """Exports `run` into `out` (an existing export there is replaced). Written into a directory beside it and
  renamed when complete, so a failed export leaves nothing half-written. Returns the manifest."""
  if run.catalogue is None:
    raise UserError(f"{run.workdir} was prepared with data.streaming, which keeps no item catalogue; export "
                    "needs one (train without data.streaming)")
  out = os.path.abspath(out)
  replace = os.path.exists(os.path.join(out, MANIFEST))
  if os.path.exists(out) and not replace and (not os.path.isdir(out) or os.listdir(out)):
    raise UserError(f"--out={out} exists and is not an export directory; pick a new or empty directory")
  staging = f"{out}.partial-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  try:
    os.makedirs(staging)
  except OSError as e:
    raise UserError(f"cannot write --out={out}: {describe_os_error(e)}; pick a directory you can write") from None
  try:
    manifest = _write(run, staging)
    if os.path.exists(out):
      shutil.rmtree(out)
    os.replace(staging, out)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return manifest


def _write(run: LoadedRun, out: str) -> dict:
  for sub in (FUNCTIONS_DIR, WEIGHTS_DIR):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
  signature = signature_of(run)
  writer = _Writer(out)
  model = run.model
  b = batch_dim()
  task = run.task
  if task.pointwise:
    writer.add("score", model, lambda m, x: task.score(m, signature.to_batch(x)),
               signature.specs("score", b), "model")
  towers = hasattr(model, "query_vectors") and hasattr(model, "candidate_vectors")
  if towers:
    writer.add("query", model, lambda m, x: m.query_vectors(signature.to_batch(x)), signature.specs("query", b),
               "model")
    writer.add("candidate", model, lambda m, x: m.candidate_vectors(signature.to_batch(x)),
               signature.specs("candidate", b), "model")
  text_vectors = None
  if signature.text is not None:
    item_text = signature.item_text
    text_vectors = writer.add("text_vectors", model, lambda m, x: m.text.encode(
        Texts(**{f: x[f"text.{f}"] for f in item_text.fields()})), _text_specs(item_text, b), "model")
  pooling = ModelOptions.from_model_section(run.config.model).text.pooling
  encoders = model.text_encoders() if hasattr(model, "text_encoders") else {}
  for group, form in (("text", signature.item_text), ("query", signature.query)):
    if form is None or form.kind == "tokens":
      continue
    # One encoder reading both groups (model.query.encoder=shared, or both fully frozen: built alike from the
    # seed) keeps one set of weights.
    owner = "text" if group == "query" and "text" in encoders and encoders["query"] is encoders["text"] else group
    writer.add(f"text_form.{group}", _text_form_encoder(run, group), _text_form_body(form.kind, pooling, run),
               _text_specs(TextForm("tokens", form.length, form.width), b), f"text_encoder.{owner}")

  cfg = run.processor.cfg
  shutil.copy(os.path.join(run.workdir, PROCESSOR_FILE), os.path.join(out, PROCESSOR_FILE))
  shutil.copy(os.path.join(run.workdir, CONFIG_FILE), os.path.join(out, CONFIG_FILE))
  if cfg.text or cfg.query:
    os.makedirs(os.path.join(out, TOKENIZER_DIR), exist_ok=True)
    shutil.copy(os.path.join(resolve_model_dir(cfg.tokenizer), "tokenizer.json"),
                os.path.join(out, TOKENIZER_DIR, "tokenizer.json"))
  _write_items(run, signature, text_vectors, os.path.join(out, ITEMS_FILE))
  _write_users(run, signature, os.path.join(out, USERS_FILE))
  reference.write(run, signature, os.path.join(out, REFERENCE_FILE))
  files = file_digests(out)
  manifest = {
      "format": FORMAT,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "workdir": os.path.abspath(run.workdir),
      "checkpoint": run.checkpoint,
      "step": run.step,
      "config_sha256": file_digest(os.path.join(run.workdir, CONFIG_FILE)),
      "model_version": f"{file_digest(os.path.join(run.workdir, CONFIG_FILE))[:12]}-step{run.step}",
      "task": run.config.task,
      "model": run.config.model.name,
      "pointwise": bool(task.pointwise),
      "towers": towers,
      "finished": run.results is not None,
      "metrics": (run.results or {}).get("metrics"),
      "versions": _versions(),
      "signature": signature.to_json(),
      "features": json.loads(json.dumps(cfg.to_dict())),
      "functions": writer.functions,
      "weights": writer.weights,
      "files": files,
  }
  manifest["sha256"] = manifest_digest(manifest)
  with open(os.path.join(out, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1)
  return manifest


def _text_form_body(kind: str, pooling: str, run: LoadedRun):
  options = ModelOptions.from_model_section(run.config.model)
  spec = model_text_input(options, run.processor.cfg, run.data.vocab_sizes())
  pool = POOLINGS.get(pooling)

  def body(encoder, x):
    ids, mask, types = x["text.ids"], x["text.mask"], x["text.types"]
    if kind == "pooled":
      return pool(encoder(ids, mask, types), mask).astype(np.float32)
    hidden = encoder(ids, mask, types, num_layers=spec.cached_blocks).astype(np.float32)
    return hidden * mask[..., None].astype(np.float32)

  return body


def _split_rows(run: LoadedRun):
  """(split name, its FeatureArrays) in time order, the splits the run has."""
  return [(name, run.data.splits[name]) for name in SPLIT_ORDER if name in run.data.splits]


def _text_specs(form: TextForm, b) -> Dict[str, jax.ShapeDtypeStruct]:
  """Abstract `text.<field>` inputs of a text table in `form`."""
  return {f"text.{f}": jax.ShapeDtypeStruct((b,) + shape, np.dtype(dtype)) for f, (shape, dtype) in form.fields().items()}


def _write_items(run: LoadedRun, signature: Signature, text_vectors, path: str) -> None:
  """Each catalogue item's candidate-side inputs, its text as the text tower's vectors."""
  catalogue = run.catalogue
  inputs = rows_inputs(catalogue.rows, catalogue.texts, signature, "candidate", text_vectors)
  train = run.data.splits["train"].rows
  clicked = train.label > 0
  popularity = np.bincount(train.item_key[clicked], minlength=len(catalogue)).astype(np.int64)
  raw = catalogue.raw or {}
  np.savez(path, ids=np.asarray(run.item_ids()).astype(str), popularity=popularity,
           **{f"inputs/{k}": v for k, v in inputs.items()},
           **{f"raw/{k}": np.asarray(v).astype(str) for k, v in raw.items()})


def current_history(history: np.ndarray, item: np.ndarray, clicked: np.ndarray) -> np.ndarray:
  """Each row's history as the next row would see it: its clicked item appended (the oldest dropped when full)."""
  history = history.copy()
  length = history.shape[1]
  if not length:
    return history
  count = np.sum(history != PAD, axis=1)
  for r in np.flatnonzero(clicked):
    if count[r] < length:
      history[r, count[r]] = item[r]
    else:
      history[r] = np.r_[history[r, 1:], item[r]]
  return history


def _write_users(run: LoadedRun, signature: Signature, path: str) -> None:
  users = run.data.users
  if users is None:
    raise UserError(f"{run.workdir}'s data keeps no user keys; export needs them")
  last = {}
  pairs_user, pairs_item = [], []
  for _, arrays in _split_rows(run):
    rows = arrays.rows
    for r, key in enumerate(rows.user_key):   # later splits overwrite earlier rows: the user's latest row
      last[int(key)] = (arrays, r)
    positive = rows.label > 0
    pairs_user.append(rows.user_key[positive])
    pairs_item.append(rows.item_key[positive])
  known = np.zeros(len(users), bool)
  known[list(last)] = True
  fields = signature.fields("query")
  inputs = {k: np.zeros((len(users),) + shape, dtype) for k, (shape, dtype) in fields.items()
            if not k.startswith("query.")}
  for arrays_id in {id(a) for a, _ in last.values()}:
    keys = np.array([k for k, (a, _) in last.items() if id(a) == arrays_id])
    arrays = last[int(keys[0])][0]
    index = np.array([last[int(k)][1] for k in keys])
    rows = arrays.rows.take(index)
    part = rows_inputs(rows, arrays.texts, signature, "query")
    if "history" in part:
      part["history"] = current_history(part["history"], np.asarray(rows.item_id), np.asarray(rows.label) > 0)
    for k in inputs:
      inputs[k][keys] = part[k]
  seen = ItemSets.from_pairs(np.concatenate(pairs_user), np.concatenate(pairs_item), len(users))
  np.savez(path, ids=np.asarray(users).astype(str), known=known, seen_indptr=seen.indptr, seen_indices=seen.indices,
           **{f"inputs/{k}": v for k, v in inputs.items()})


def describe(manifest: dict, out: str) -> str:
  """One line per function and the sizes, for the command's output."""
  lines = [f"exported {manifest['task']} / {manifest['model']} (checkpoint {manifest['checkpoint']}, step "
           f"{manifest['step']}) to {out}"]
  for name, fn in manifest["functions"].items():
    lines.append(f"  {name}: inputs {', '.join(fn['inputs'])}")
  for name, w in manifest["weights"].items():
    lines.append(f"  weights {name}: {w['parameters']:,} values")
  if not manifest.get("finished", True):
    lines.append(f"note: {manifest['workdir']} has no results.json (the run has not finished, or it failed): this "
                 f"is its {manifest['checkpoint']} checkpoint so far (step {manifest['step']}), and the manifest "
                 "records no test metrics")
  return "\n".join(lines)
