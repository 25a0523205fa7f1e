"""Command-line overrides of the dict-valued options, which ml_collections' `--config.a.b=v` cannot express: it walks
attribute names, so a regex key (`train.lr_multipliers`) is a Python syntax error to it, and a key the dict does
not hold yet (`data.options.duplicates`) is an unknown key.

  --config.train.lr_multipliers='{"^text/": 0.2}'   the whole dict: JSON or a Python literal; '{}' empties it
  --config.train.lr_multipliers.^text/=0.2          one entry, replaced or added

An entry's value keeps the type of the entry it replaces (a string stays the text given; a number must be one); a
new entry's value is read as JSON (`0.2`, `true`, `[1, 2]`), else taken as the text. The overrides are taken out of
the command line before absl parses it and applied to the parsed config (`apply`), so sweeps (which pass their
overrides to `rec_jax.main`) get them the same way.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from typing import Any, List, Optional, Sequence, Tuple

from rec_jax.errors import UserError

# Options whose value is a dict with keys of the user's choosing: {regex on a parameter path: factor},
# {column: buckets}, {a data format's option: value}.
DICT_OPTIONS = ("train.lr_multipliers", "features.hash_buckets", "data.options")


@dataclasses.dataclass(frozen=True)
class DictOverride:
  option: str            # e.g. "train.lr_multipliers"
  entry: Optional[str]   # the key of one entry; None: the whole dict
  value: Any


def _node(cfg, path: str):
  node = cfg
  for part in path.split("."):
    if not hasattr(node, "items") or part not in node:
      return None
    node = node[part]
  return node


def _literal(text: str):
  if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
    return float(text)   # (for the range check to name, not to be taken as the text 'nan')
  try:
    return json.loads(text)
  except ValueError:
    pass
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
    return None


def _entry_value(flag: str, current, text: str):
  if current is None:
    value = _literal(text)
    return text if value is None or isinstance(value, dict) else value
  if isinstance(current, str):
    return text
  if isinstance(current, bool):
    if text.lower() in ("true", "1"):
      return True
    if text.lower() in ("false", "0"):
      return False
    raise UserError(f"{flag}: expected true or false")
  if isinstance(current, (int, float)):
    value = _literal(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise UserError(f"{flag}: expected a number, as the entry it replaces ({current!r})")
    return float(value) if isinstance(current, float) else value
  value = _literal(text)
  if value is None:
    raise UserError(f"{flag}: expected a value of the type of the entry it replaces ({current!r})")
  return value


def _override(cfg, arg: str) -> Optional[DictOverride]:
  """The dict override `arg` is, or None when it is an ordinary override (or not one at all)."""
  if not arg.startswith("--config.") or "=" not in arg:
    return None
  key, text = arg[len("--config."):].split("=", 1)
  for option in DICT_OPTIONS:
    if key != option and not key.startswith(option + "."):
      continue
    current = _node(cfg, option)
    if current is None:
      return None   # this config has no such option: the unknown-key check names it
    if key == option:
      value = _literal(text)
      if not isinstance(value, dict):
        raise UserError(f"{arg}: {option} is a dict; give it as JSON, e.g. --config.{option}='{{\"key\": 1}}' "
                        f"('{{}}' empties it), or set one entry with --config.{option}.<key>=<value>")
      return DictOverride(option, None, value)
    entry = key[len(option) + 1:]
    return DictOverride(option, entry, _entry_value(arg, dict(current).get(entry), text))
  return None


def split(cfg, argv: Sequence[str]) -> Tuple[List[str], List[DictOverride], List[str]]:
  """(argv without the dict overrides, the dict overrides in command-line order, one message per bad one)."""
  rest, overrides, errors = [], [], []
  for arg in argv:
    try:
      found = _override(cfg, arg)
    except UserError as e:
      errors.append(str(e))
      continue
    if found is None:
      rest.append(arg)
    else:
      overrides.append(found)
  return rest, overrides, errors


def apply(cfg, overrides: Sequence[DictOverride]) -> None:
  """Sets the overrides on the parsed config, in order (a later one wins)."""
  for o in overrides:
    parent_path, _, name = o.option.rpartition(".")
    parent = _node(cfg, parent_path) if parent_path else cfg
    value = o.value if o.entry is None else {**dict(parent[name]), o.entry: o.value}
    with cfg.unlocked():
      parent[name] = dict(value)
