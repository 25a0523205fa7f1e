"""The one parser of a config file's presets: `--config=configs/x.py:<arg>` with `arg` comma-separated flags
(`smoke`), at most one name of each choice group (a zoo family, a variant) and `key=value` settings (`seed=N`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Mapping, Optional, Sequence, Set, Tuple

from rec_jax.errors import UserError

SETTINGS = ("seed",)


@dataclasses.dataclass(frozen=True)
class Presets:
  flags: Set[str]
  choices: Dict[str, str]   # group -> the chosen name (or the group's default)
  seed: int = 0

  def __contains__(self, flag: str) -> bool:
    return flag in self.flags


def parse_presets(arg: Optional[str], config_file: str, *, flags: Sequence[str] = (),
                  choices: Optional[Mapping[str, Tuple[str, Sequence[str]]]] = None) -> Presets:
  """`choices`: group -> (default, the group's names). Unknown parts and two names of one group are errors naming
  the valid presets."""
  choices = dict(choices or {})
  name = f"configs/{os.path.basename(config_file)}"
  parts = [p for p in (arg or "").split(",") if p]
  settings = dict(p.split("=", 1) for p in parts if "=" in p)
  words = [p for p in parts if "=" not in p]
  valid = list(flags) + [n for _, names in choices.values() for n in names]
  unknown = sorted(set(words) - set(valid)) + sorted(f"{k}=" for k in set(settings) - set(SETTINGS))
  if unknown:
    raise UserError(f"unknown preset(s) {unknown} for {name}; valid: {', '.join(valid + ['seed=N'])}")
  chosen = {}
  for group, (default, names) in choices.items():
    given = [w for w in words if w in names]
    if len(given) > 1:
      raise UserError(f"{name} takes one of the presets {', '.join(names)} (default {default}), got {given}; also "
                      f"accepted: {', '.join([f for f in flags] + ['seed=N'])}")
    chosen[group] = given[0] if given else default
  try:
    seed = int(settings.get("seed", 0))
  except ValueError:
    raise UserError(f"{name}: seed={settings['seed']!r} is not an integer") from None
  return Presets({w for w in words if w in flags}, chosen, seed)
