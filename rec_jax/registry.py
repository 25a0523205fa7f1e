"""String-keyed registries: config strings name classes and functions (STYLE.md: no if/elif chains)."""

from __future__ import annotations

import difflib
from typing import Callable, Dict, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
  """Maps a config string to an object; unknown names fail with the nearest valid ones."""

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: Dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(obj: T) -> T:
      if name in self._entries:
        raise ValueError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = obj
      return obj
    return decorator

  def get(self, name: str) -> T:
    if name not in self._entries:
      close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.4)
      hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
      raise KeyError(
          f"unknown {self.kind} {name!r}{hint} Valid: {', '.join(sorted(self._entries))}")
    return self._entries[name]

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(sorted(self._entries))
