"""`<sweep_dir>/sweep.json`, what a sweep directory holds: written once by the first command on the directory
(`claim_directory`), compared with every later command's sweep (`definition_differences`), never rewritten."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Dict, List, Optional, Tuple

from launch.run_records import read_sweep_file
from launch.sweep_file import Run
from rec_jax.errors import UserError
from rec_jax.workdir import SWEEP_FILE, run_dir

def manifest(workdir: str, config: str, spec: str, sweep: dict, runs: List[Run]) -> dict:
  """`sweep.json`: every run of the sweep (also those --only leaves out), for launch.aggregate."""
  return {"config": config, "sweep": spec, "baseline": sweep.get("baseline"),
          "variants": [v["name"] for v in sweep["variants"]], "seeds": [int(s) for s in sweep.get("seeds", (0,))],
          "runs": [{"variant": r.variant, "seed": r.seed, "workdir": os.path.relpath(r.workdir, workdir),
                    "command": r.command()} for r in runs]}


def _spec_path(spec) -> object:
  """A file[:arg] spec with its path normalised (`./configs/x.py` is `configs/x.py`)."""
  if not isinstance(spec, str):
    return spec
  path, colon, arg = spec.partition(":")
  return os.path.normpath(path) + colon + arg


def _run_parts(command: Optional[List[str]]) -> dict:
  """What a run's command says it runs: its --config, its overrides (the last of a key wins, as for absl) and any
  other argument. The interpreter and --workdir are where and with what it runs, checked elsewhere."""
  if not command:
    return {"config": None, "overrides": {}, "other": ["<no command>"]}
  parts = {"config": None, "overrides": {}, "other": []}
  for arg in command[1:]:
    if arg.startswith("--config="):
      parts["config"] = _spec_path(arg[len("--config="):])
    elif arg.startswith("--config."):
      key, _, value = arg[len("--config."):].partition("=")
      parts["overrides"][key] = value
    elif not arg.startswith("--workdir="):
      parts["other"].append(arg)
  return parts


def _pairs(changes: Dict[Tuple[str, object, object], set], variants: set, limit: int = 6) -> str:
  """`key: old -> new` per change, naming the variants it concerns unless it concerns them all."""
  shown = []
  for (key, old, new), where in sorted(changes.items(), key=str):
    text = f"{key}: {old} -> {new}" if key else f"{old} -> {new}"
    shown.append(text if where == variants else f"{text} (variant {', '.join(sorted(where))})")
  return ", ".join(shown[:limit]) + (f", and {len(shown) - limit} more" if len(shown) > limit else "")


def definition_differences(saved: dict, now: dict) -> List[str]:
  """What differs between the sweep a directory holds (its sweep.json) and the one asked for; [] when the same."""
  out = []
  for key in ("config", "sweep"):
    if _spec_path(saved.get(key)) != _spec_path(now[key]):
      out.append(f"{key}: {saved.get(key)!r} -> {now[key]!r}")
  for key in ("variants", "seeds", "baseline"):
    if key in saved and saved[key] != now[key]:
      out.append(f"{key}: {saved[key]} -> {now[key]}")
  saved_runs = {(r["variant"], r["seed"]): r for r in saved["runs"]}
  now_runs = {(r["variant"], r["seed"]): r for r in now["runs"]}
  if not out and set(saved_runs) != set(now_runs):
    out.append(f"runs: {sorted(saved_runs)} -> {sorted(now_runs)}")
  absent = "<absent>"
  changes: Dict[str, Dict[Tuple[str, object, object], set]] = {
      "overrides": {}, "configs": {}, "workdirs": {}, "other arguments": {}}
  common = saved_runs.keys() & now_runs.keys()
  for key in common:
    old, new = saved_runs[key], now_runs[key]
    a, b = _run_parts(old.get("command")), _run_parts(new["command"])
    found = [("overrides", (k, a["overrides"].get(k, absent), b["overrides"].get(k, absent)))
             for k in a["overrides"].keys() | b["overrides"].keys()
             if a["overrides"].get(k, absent) != b["overrides"].get(k, absent)]
    if a["config"] != b["config"]:
      found.append(("configs", ("", a["config"], b["config"])))
    if os.path.normpath(old.get("workdir") or run_dir("", *key)) != os.path.normpath(new["workdir"]):
      found.append(("workdirs", ("", old.get("workdir"), new["workdir"])))
    if a["other"] != b["other"]:
      found.append(("other arguments", ("", " ".join(a["other"]), " ".join(b["other"]))))
    for what, change in found:
      changes[what].setdefault(change, set()).add(key[0])
  variants = {variant for variant, _ in common}
  out += [f"runs' {what} differ: {_pairs(found, variants)}" for what, found in changes.items() if found]
  return out


def claim_directory(workdir: str, wanted: dict) -> None:
  """Writes `<workdir>/sweep.json` if the directory holds no sweep yet (created exclusively: of two commands
  started at once, one writes it and the other compares with it); refuses a directory holding another sweep."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"--workdir={workdir} is a file, not a directory")
  path = os.path.join(workdir, SWEEP_FILE)
  if not os.path.exists(path):
    os.makedirs(workdir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      json.dump(wanted, f, indent=1)
    try:
      os.link(tmp, path)   # Fails if another command wrote it meanwhile; never replaces it.
      return
    except FileExistsError:
      pass
    except OSError:   # A filesystem without hard links.
      if not os.path.exists(path):
        os.replace(tmp, path)
        return
    finally:
      with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
  differences = definition_differences(read_sweep_file(workdir), wanted)
  if differences:
    raise UserError(f"{workdir} holds another sweep ({path}): {'; '.join(differences)}; use a new --workdir or the "
                    "same command")
