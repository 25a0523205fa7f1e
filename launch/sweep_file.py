"""A sweep file (configs/sweeps/*.py: `get_sweep(arg)` -> dict(variants=[dict(name, preset, overrides)], seeds,
baseline)) loaded and checked in every part, and expanded into its runs (`Run`: one `python -m rec_jax.main` per
variant and seed)."""

from __future__ import annotations

import dataclasses
import numbers
import os
import sys
from typing import Dict, List, Sequence, Tuple

from rec_jax.config.loader import execute_file
from rec_jax.errors import UserError
from rec_jax.workdir import run_dir

SWEEP_KEYS = ("variants", "seeds", "baseline")
VARIANT_KEYS = ("name", "preset", "overrides")


@dataclasses.dataclass
class Run:
  variant: str
  seed: int
  config: str   # --config value: file[:preset]
  overrides: Dict[str, object]
  workdir: str
  common: Tuple[str, ...] = ()   # The sweep's own `--config.a.b=v` flags, after the variant's.

  def command(self) -> List[str]:
    flags_ = [f"--config.{k}={v}" for k, v in {**self.overrides, "seed": self.seed}.items()]
    return [sys.executable, "-m", "rec_jax.main", f"--config={self.config}", f"--workdir={self.workdir}", *flags_,
            *self.common]


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_variant(path: str, i: int, variant) -> None:
  if not isinstance(variant, dict):
    raise UserError(f"{path}: variants[{i}] must be dict(name, preset, overrides), got {variant!r:.80}")
  unknown = sorted(set(variant) - set(VARIANT_KEYS), key=str)
  if unknown:
    raise UserError(f"{path}: variants[{i}] has unknown key(s) {unknown}; valid: {', '.join(VARIANT_KEYS)}")
  name = variant.get("name")
  if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
    raise UserError(f"{path}: variants[{i}] needs a name usable as a directory name, got {name!r}")
  if not isinstance(variant.get("preset", ""), str):
    raise UserError(f"{path}: variant {name!r}: preset must be a string, got {variant['preset']!r:.80}")
  overrides = variant.get("overrides", {})
  if not isinstance(overrides, dict):
    raise UserError(f"{path}: variant {name!r}: overrides must be a dict {{'a.b': value}}, got {overrides!r:.80}")
  for key, value in overrides.items():
    if not isinstance(key, str) or not key or "=" in key or any(c.isspace() for c in key):
      raise UserError(f"{path}: variant {name!r}: override keys must be config keys like 'model.cross', got {key!r}")
    if isinstance(value, (dict, set)):
      raise UserError(f"{path}: variant {name!r}: override {key!r} is a {type(value).__name__}; set each field with "
                      f"its own dotted key ('{key}.field': value)")


def _check_seeds(path: str, seeds) -> Tuple[int, ...]:
  if not isinstance(seeds, (list, tuple, range)):
    raise UserError(f"{path}: seeds must be a list of non-negative integers, got {seeds!r:.80}")
  if not seeds:
    raise UserError(f"{path}: seeds is empty; give at least one seed")
  bad = [s for s in seeds if not _is_int(s) or s < 0]
  if bad:
    raise UserError(f"{path}: seeds must be non-negative integers, got {bad[0]!r} in {list(seeds)!r:.80}")
  repeated = sorted({int(s) for s in seeds if list(seeds).count(s) > 1})
  if repeated:
    raise UserError(f"{path}: seeds repeat: {repeated} in {list(seeds)!r:.80}")
  return tuple(int(s) for s in seeds)


def load_sweep(spec: str) -> dict:
  """The sweep of `file[:arg]`, every part of it checked: a mistake is a UserError naming the file."""
  module, arg = execute_file(spec, "sweep file", "get_sweep")
  path = spec.partition(":")[0]
  try:
    sweep = module.get_sweep(arg)
  except ValueError as e:   # The sweep file's own check of its argument (and UserError, a ValueError).
    raise UserError(f"{path}: get_sweep({arg!r}) refused: {e}") from e
  if not isinstance(sweep, dict):
    raise UserError(f"{path}: get_sweep() must return dict(variants=[dict(name, preset, overrides)], seeds, "
                    f"baseline), got {type(sweep).__name__}")
  unknown = sorted(set(sweep) - set(SWEEP_KEYS), key=str)
  if unknown:
    raise UserError(f"{path}: get_sweep() returned unknown key(s) {unknown}; valid: {', '.join(SWEEP_KEYS)}")
  variants = sweep.get("variants")
  if not isinstance(variants, (list, tuple)) or not variants:
    raise UserError(f"{path}: get_sweep() must return a non-empty list of variants=[dict(name, preset, overrides)], "
                    f"got {variants!r:.80}")
  for i, variant in enumerate(variants):
    _check_variant(path, i, variant)
  names = [v["name"] for v in variants]
  if len(set(names)) != len(names):
    raise UserError(f"{path}: variant names repeat: {sorted({n for n in names if names.count(n) > 1})}")
  baseline = sweep.get("baseline")
  if baseline is not None and baseline not in names:
    raise UserError(f"{path}: baseline {baseline!r} is not a variant; variants: {', '.join(names)}")
  return {**sweep, "variants": list(variants), "seeds": _check_seeds(path, sweep.get("seeds", (0,)))}


def expand(config: str, sweep: dict, workdir: str, only: Sequence[str] = (),
           overrides: Sequence[str] = ()) -> List[Run]:
  runs = []
  for variant in sweep["variants"]:
    if only and variant["name"] not in only:
      continue
    preset = variant.get("preset", "")
    for seed in sweep.get("seeds", (0,)):
      runs.append(Run(variant["name"], int(seed), f"{config}:{preset}" if preset else config,
                      dict(variant.get("overrides", {})), run_dir(workdir, variant["name"], seed), tuple(overrides)))
  return runs


def check_only(only: Sequence[str], only_given: bool, sweep: dict, spec: str) -> None:
  if only_given and not only:
    raise UserError("--only is empty; name variants (comma-separated) or leave the flag out")
  names = [v["name"] for v in sweep["variants"]]
  unknown = [name for name in only if name not in names]
  if unknown:
    raise UserError(f"--only={','.join(only)} names no variant of {spec}: {', '.join(unknown)}; its variants: "
                    f"{', '.join(names)}")
