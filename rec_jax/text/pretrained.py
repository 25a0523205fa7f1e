"""Pretrained BERT weights from a Hugging Face checkpoint directory into our nnx `BertEncoder`.

A checkpoint is a directory (or an installed package that ships one, see `resolve_model_dir`) with `config.json` and
`model.safetensors`. Safetensors is read with numpy only; pickle checkpoints (`pytorch_model.bin`, `*.pt`, ...) are
refused, because unpickling runs arbitrary code from the file.

Keys follow HF `BertModel` (optionally under `bert.` as in `BertFor*` checkpoints) and map onto the nnx state paths
listed in `rec_jax.text.bert`: Linear `weight` [out, in] -> `kernel` [in, out], Embedding `weight` ->
`embedding`, LayerNorm `weight`/`gamma` -> `scale` and `beta` -> `bias`. Heads (`pooler.*`, `cls.*`) and the
`embeddings.position_ids` buffer have no counterpart and are reported as ignored. Every other mismatch - a missing
tensor, an unexpected one, a wrong shape - is collected and raised as one error naming them all, and nothing is
loaded unless everything fits.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Mapping, Optional, Tuple

import jax.numpy as jnp
import numpy as np
import safetensors.numpy
from absl import logging
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.text.tokenizer import file_sha256, resolve_model_dir
from rec_jax.text.bert import HF_CONFIG_KEYS, BertConfig, BertEncoder, Dtype

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")

_PREFIX = "bert."  # HF `BertFor*` models keep the encoder under this attribute.
_IGNORED_PREFIXES = ("pooler.", "cls.")  # Task heads we do not mirror.
_IGNORED_KEYS = ("embeddings.position_ids",)  # A constant buffer, not a parameter.
_POSITIONS = "embeddings.position_embeddings.embedding"
# HF leaf name -> our possible leaf names; `kernel` means a transposed Linear weight.
_LEAVES = {"weight": ("kernel", "embedding", "scale"), "gamma": ("scale",), "beta": ("bias",), "bias": ("bias",)}
_HF_LEAF = {"kernel": "weight", "embedding": "weight", "scale": "weight", "bias": "bias"}


@dataclasses.dataclass(frozen=True)
class LoadReport:
  """What `load_into_encoder` did, by checkpoint key.

  Attributes:
    loaded: checkpoint keys copied into the encoder.
    ignored: checkpoint keys deliberately skipped (task heads, buffers).
    sliced: key -> (rows in the checkpoint, rows kept); position embeddings cut to the encoder's max_position.
    num_params: number of scalar parameters loaded.
  """

  loaded: Tuple[str, ...]
  ignored: Tuple[str, ...]
  sliced: Mapping[str, Tuple[int, int]]
  num_params: int

  def summary(self) -> str:
    text = f"loaded {len(self.loaded)} tensors ({self.num_params:,} parameters), ignored {list(self.ignored)}"
    for key, (found, kept) in self.sliced.items():
      text += f"; kept the first {kept} of {found} rows of {key}"
    return text


def _read_config(model_dir: str) -> dict:
  """The HF config.json of a checkpoint, checked to describe a BERT our encoder can mirror."""
  path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} not found: a BERT checkpoint directory needs the Hugging Face {CONFIG_FILE} "
                            f"describing its architecture next to {WEIGHTS_FILE}")
  with open(path, encoding="utf-8") as f:
    hf_config = json.load(f)
  model_type = hf_config.get("model_type", "bert")
  if model_type != "bert":
    raise UserError(f"{path} describes model_type {model_type!r}; only 'bert' checkpoints can be loaded")
  position_type = hf_config.get("position_embedding_type", "absolute")
  if position_type != "absolute":
    raise UserError(f"{path} uses position_embedding_type {position_type!r}; only 'absolute' is implemented")
  return hf_config


def _weights_path(model_dir: str) -> str:
  """Path of the safetensors weights; refuses pickle-only directories, which are unsafe to load."""
  path = os.path.join(model_dir, WEIGHTS_FILE)
  if os.path.isfile(path):
    return path
  files = sorted(os.listdir(model_dir))
  pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
  if pickles:
    raise UserError(
        f"{model_dir} has only pickle checkpoints {pickles}, which are not loaded: unpickling runs arbitrary code "
        f"from the file. Convert the checkpoint to safetensors in an environment you trust, e.g. "
        f"`transformers.BertModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`, "
        f"which writes {WEIGHTS_FILE}")
  raise FileNotFoundError(f"no {WEIGHTS_FILE} in {model_dir} (it holds {files}); expected the checkpoint's weights "
                          f"there in safetensors format")


def read_bert_config(source: str) -> BertConfig:
  """A checkpoint's architecture from its config.json alone (no weights are read)."""
  return BertConfig.from_hf_dict(_read_config(resolve_model_dir(source)))


def load_bert_checkpoint(source: str) -> Tuple[BertConfig, Dict[str, np.ndarray]]:
  """Reads a checkpoint's config and weights (HF key -> array) from a directory or an installed model package."""
  model_dir = resolve_model_dir(source)
  hf_config = _read_config(model_dir)
  tensors = safetensors.numpy.load_file(_weights_path(model_dir))
  return BertConfig.from_hf_dict(hf_config), tensors


def _param_name(path) -> str:
  """'encoder.layer.0.attention.self.query.kernel' for an nnx state path."""
  return ".".join(map(str, path))


def _hf_name(param: str) -> str:
  """The HF key a parameter is loaded from, e.g. '...query.kernel' -> '...query.weight'."""
  module, leaf = param.rsplit(".", 1)
  return f"{module}.{_HF_LEAF[leaf]}"


def _is_ignored(name: str) -> bool:
  return name.startswith(_IGNORED_PREFIXES) or name in _IGNORED_KEYS


def _target(name: str, params: Mapping[str, nnx.Variable]) -> Optional[str]:
  """The parameter an (unprefixed) HF key maps to, or None if the encoder has no such parameter."""
  if "." not in name:
    return None
  module, leaf = name.rsplit(".", 1)
  for ours in _LEAVES.get(leaf, ()):
    if f"{module}.{ours}" in params:
      return f"{module}.{ours}"
  return None


def _hf_shape(param: str, shape: Tuple[int, ...]) -> Tuple[int, ...]:
  """A parameter's shape as HF stores it: Linear weights are [out, in]."""
  return tuple(reversed(shape)) if param.endswith(".kernel") else tuple(shape)


def load_into_encoder(encoder: BertEncoder, tensors: Mapping[str, np.ndarray]) -> LoadReport:
  """Copies HF BERT tensors into `encoder`'s parameters, all or nothing.

  Raises:
    ValueError: naming every missing tensor, unexpected tensor and shape mismatch at once; the encoder is unchanged.
  """
  params = {_param_name(path): var for path, var in nnx.to_flat_state(nnx.state(encoder, nnx.Param))}
  values: Dict[str, np.ndarray] = {}
  source_of: Dict[str, str] = {}
  ignored, unexpected, shapes, sliced = [], [], [], {}
  for key in sorted(tensors):
    name = key[len(_PREFIX):] if key.startswith(_PREFIX) else key
    if _is_ignored(name):
      ignored.append(key)
      continue
    param = _target(name, params)
    if param is None:
      unexpected.append(key)
      continue
    if param in source_of:
      unexpected.append(f"{key} (duplicates {source_of[param]})")
      continue
    source_of[param] = key
    value = np.asarray(tensors[key])
    value = value.T if param.endswith(".kernel") else value
    want = tuple(params[param].shape)
    if param == _POSITIONS and value.ndim == 2 and value.shape[1:] == want[1:] and value.shape[0] > want[0]:
      sliced[key] = (value.shape[0], want[0])
      value = value[:want[0]]
    if value.shape != want:
      shapes.append(_shape_problem(key, param, _hf_shape(param, want), tuple(tensors[key].shape)))
      continue
    values[param] = value
  missing = [_hf_name(p) for p in sorted(params) if p not in source_of]
  _raise_problems(missing, unexpected, shapes)
  nnx.update(encoder, nnx.from_flat_state([
      (path, var.replace(jnp.asarray(values[_param_name(path)], var.dtype)))
      for path, var in nnx.to_flat_state(nnx.state(encoder, nnx.Param))]))
  return LoadReport(loaded=tuple(source_of[p] for p in sorted(source_of)), ignored=tuple(ignored), sliced=sliced,
                    num_params=sum(v.size for v in values.values()))


def _shape_problem(key: str, param: str, want: Tuple[int, ...], found: Tuple[int, ...]) -> str:
  text = f"{key}: expected {want}, found {found}"
  if param == _POSITIONS and len(found) == 2 and found[0] < want[0]:
    text += (f" (the checkpoint has only {found[0]} positions; build the encoder with max_position <= {found[0]})")
  return text


def _raise_problems(missing: List[str], unexpected: List[str], shapes: List[str]) -> None:
  """One ValueError listing every problem, so a bad checkpoint is diagnosed in one run."""
  if not (missing or unexpected or shapes):
    return
  lines = [f"checkpoint does not fit BertEncoder ({len(missing)} missing, {len(unexpected)} unexpected, "
           f"{len(shapes)} shape mismatches):"]
  lines += [f"  missing (expected by the model, absent from the checkpoint): {key}" for key in missing]
  lines += [f"  unexpected (in the checkpoint, no such parameter): {key}" for key in unexpected]
  lines += [f"  shape mismatch: {problem}" for problem in shapes]
  raise UserError("\n".join(lines))


def load_pretrained_encoder(source: str, *, max_position: Optional[int] = None, dtype: Optional[Dtype] = None,
                            rngs: Optional[nnx.Rngs] = None) -> Tuple[BertEncoder, BertConfig]:
  """A `BertEncoder` with a checkpoint's architecture and weights.

  Args:
    source: checkpoint directory or installed model package name (see `resolve_model_dir`).
    max_position: optional cap on positions (shorter inputs need fewer); the checkpoint's rows are sliced.
    dtype: compute dtype of the encoder (parameters stay float32).
    rngs: construction rngs. The module is built abstractly (`nnx.eval_shape`) since every parameter is then
      overwritten by the checkpoint, so these only satisfy the constructor.
  """
  cfg, tensors = load_bert_checkpoint(source)
  if max_position is not None:
    if max_position > cfg.max_position:
      raise UserError(f"max_position {max_position} exceeds the {cfg.max_position} position embeddings of "
                      f"checkpoint {source!r}")
    cfg = dataclasses.replace(cfg, max_position=max_position)
  encoder = nnx.eval_shape(lambda r: BertEncoder(cfg, dtype=dtype, rngs=r), rngs if rngs is not None else nnx.Rngs(0))
  report = load_into_encoder(encoder, tensors)
  logging.info("pretrained BERT %r: %s", source, report.summary())
  return encoder, cfg


def export_hf_checkpoint(encoder: BertEncoder, directory: str) -> str:
  """Writes `encoder` as a Hugging Face BERT checkpoint (config.json + model.safetensors) that `BertModel` and
  `load_pretrained_encoder` read back; trainable and frozen weights alike. LoRA adapters must be merged first
  (`rec_jax.text.lora.merge_lora`). Returns the weights' path."""
  tensors = {}
  for path, var in nnx.to_flat_state(nnx.state(encoder)):
    *module, leaf = map(str, path)
    if leaf not in _HF_LEAF:
      raise UserError(f"{'.'.join(map(str, path))} has no Hugging Face counterpart (an unmerged LoRA adapter? "
                      f"call rec_jax.text.lora.merge_lora first)")
    value = np.asarray(var[...], np.float32)
    # safetensors writes an array's raw buffer: a transposed view must be made contiguous or it is scrambled.
    tensors[f"{'.'.join(module)}.{_HF_LEAF[leaf]}"] = np.ascontiguousarray(value.T if leaf == "kernel" else value)
  cfg = encoder.config
  hf_config = {"model_type": "bert", "architectures": ["BertModel"],
               **{theirs: getattr(cfg, ours) for theirs, ours in HF_CONFIG_KEYS.items()}}
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
    json.dump(hf_config, f, indent=1)
  path = os.path.join(directory, WEIGHTS_FILE)
  safetensors.numpy.save_file(tensors, path)
  return path


def check_tokenizer_matches(source: str, tokenizer_source: str) -> None:
  """Refuses token ids from one vocabulary fed to a checkpoint trained on another.

  Compares the checkpoint's `tokenizer.json` with the one the features were tokenised with (`features.tokenizer`);
  a checkpoint without `tokenizer.json` cannot be checked and is accepted (its vocab size is still checked).
  """
  model_dir, tok_dir = resolve_model_dir(source), resolve_model_dir(tokenizer_source)
  ours, theirs = os.path.join(tok_dir, "tokenizer.json"), os.path.join(model_dir, "tokenizer.json")
  if os.path.isfile(theirs) and file_sha256(ours) != file_sha256(theirs):
    raise UserError(f"model.text.pretrained {source!r} ships a different tokenizer.json than features.tokenizer "
                    f"{tokenizer_source!r}: set features.tokenizer to {source!r} so token ids match its vocabulary")
