"""Config strings -> code, without if/elif chains.

- `ModuleRegistry`: the module path is the registry (big_vision's way). `model.cross=dcnv2` is the module
  `rec_jax.models.crosses.dcnv2`; adding an entry is adding a file, with no registration line and no import list to
  keep in sync. A name with a dot is a full module path (`model.cross=my_project.my_cross`), so a project outside
  rec_jax adds entries without touching it. Used for the task, dataset, model, feature cross and history encoder.
- `Registry`: a dict filled in the module that defines it, for small tables of functions that live in one file
  (text modes, poolings, activations).
Unknown names fail with the nearest valid ones.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from types import ModuleType
from typing import Callable, Dict, Generic, Iterator, List, TypeVar

from rec_jax.errors import UnknownNameError, UserError

T = TypeVar("T")


def _unknown(kind: str, name: str, valid: List[str]) -> UnknownNameError:
  close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
  hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
  return UnknownNameError(f"unknown {kind} {name!r}{hint} Valid: {', '.join(sorted(valid))}")


class ModuleRegistry:
  """`get(name)`: the module `<package>.<name>` (or `name` itself when it has a dot), which must define
  `attribute` (e.g. `build`, `TASK`); iterating gives the names of the package's entries, sorted."""

  def __init__(self, kind: str, package: str, attribute: str):
    self.kind, self.package, self.attribute = kind, package, attribute

  def _path(self, name: str) -> str:
    return name if "." in name else f"{self.package}.{name}"

  def get(self, name: str) -> ModuleType:
    if not isinstance(name, str) or not name or not all(p.isidentifier() for p in name.split(".")):
      raise _unknown(self.kind, str(name), self.names())
    path = self._path(name)
    try:
      module = importlib.import_module(path)
    except ModuleNotFoundError as e:
      if e.name is not None and path.startswith(e.name):   # the entry itself is missing, not a library it needs
        raise _unknown(self.kind, name, self.names()) from None
      raise
    if not hasattr(module, self.attribute):
      raise UnknownNameError(f"{self.kind} {name!r}: module {path} defines no {self.attribute}, so it is not a "
                             f"{self.kind}; "
                             f"valid: {', '.join(self.names())}")
    return module

  def names(self) -> List[str]:
    """The package's entries: its modules that define `attribute` (helper modules beside them do not)."""
    package = importlib.import_module(self.package)
    names = []
    for info in pkgutil.iter_modules(package.__path__):
      if not info.ispkg and not info.name.startswith("_"):
        if hasattr(importlib.import_module(f"{self.package}.{info.name}"), self.attribute):
          names.append(info.name)
    return sorted(names)

  def __contains__(self, name: str) -> bool:
    return name in self.names()

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())


class Registry(Generic[T]):
  """Maps a config string to an object registered in the same module as the registry."""

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: Dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(obj: T) -> T:
      if name in self._entries:
        raise UserError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = obj
      return obj
    return decorator

  def get(self, name: str) -> T:
    if name not in self._entries:
      raise _unknown(self.kind, name, list(self._entries))
    return self._entries[name]

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(sorted(self._entries))
