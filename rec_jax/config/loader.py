"""The config loader: a config file (`configs/x.py[:presets]`) executed into its ConfigDict, and the check of
`--config.a.b=v` overrides against it before absl parses them, so a typo is one clear line naming close keys; the
overrides of dict-valued options (dict_overrides.py) are taken out for absl and applied after it."""

from __future__ import annotations

import difflib
import importlib.util
import os
from typing import List, Optional, Tuple

from rec_jax.config import dict_overrides
from rec_jax.config.dict_overrides import DictOverride
from rec_jax.errors import UserError


def config_file_flag(argv: List[str]) -> Optional[str]:
  """The `--config` value of a command line, or None."""
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _leaf_keys(cfg, prefix="") -> List[str]:
  keys = []
  for k, v in cfg.items():
    path = f"{prefix}{k}"
    keys += _leaf_keys(v, path + ".") if hasattr(v, "items") else [path]
  return keys


def execute_file(spec: str, what: str, function: str):
  """(the module of the Python file `path` of `path[:arg]`, arg or None), after checking it defines `function`;
  `what` names the kind of file in errors (config file, sweep file). The file is executed: trusted code only."""
  path, _, arg = spec.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{what} {path!r} does not exist")
  module_spec = importlib.util.spec_from_file_location(f"_rec_jax_{what.replace(' ', '_')}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not callable(getattr(module, function, None)):
    raise UserError(f"{what} {path!r} defines no {function}(arg)")
  return module, arg or None


def load_config(spec: str):
  """The ConfigDict of `path[:arg]`: the file's get_config(arg). Config files are Python and are executed."""
  module, arg = execute_file(spec, "config file", "get_config")
  return module.get_config(arg)


def unknown_overrides(cfg, argv: List[str]) -> List[str]:
  """Messages for every override whose key is not a leaf of `cfg`."""
  valid = _leaf_keys(cfg)
  messages = []
  for a in argv:
    if not a.startswith("--config.") or a.startswith("--config.-"):
      continue
    key = a[len("--config."):].split("=", 1)[0]
    if key in valid:
      continue
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"valid keys include {', '.join(valid[:12])}, ..."
    messages.append(f"unknown config key {key!r}: {hint}")
  return messages


def read_command_line(argv: List[str]) -> Tuple[List[str], List[str], List[DictOverride]]:
  """(what is wrong with a command line's config: a missing or failing config file, unknown override keys, bad
  dict-option overrides; the command line for absl, without the dict-option overrides; those overrides, for
  `dict_overrides.apply` on the parsed config)."""
  spec = config_file_flag(argv)
  if spec is None:
    return [], list(argv), []
  try:
    cfg = load_config(spec)
  except FileNotFoundError as e:
    return [str(e.args[0])], list(argv), []
  except ValueError as e:
    return [f"{spec}: {e}"], list(argv), []
  rest, overrides, errors = dict_overrides.split(cfg, argv)
  return unknown_overrides(cfg, rest) + errors, rest, overrides


def override_errors(argv: List[str]) -> List[str]:
  """What is wrong with a command line's config (`read_command_line`'s first part)."""
  return read_command_line(argv)[0]
