"""Typed options: a module's options and their defaults live in one frozen dataclass, a subclass of `Options`.

`Options.from_config(section)` reads a config section into the dataclass (a missing key or a None value takes the
default; a key the dataclass does not declare is an error naming the valid ones); `Options.defaults()` is the
section the base config (rec_jax/config/base.py) lists, so every option is settable from the command line and
recorded in config.json.

A section shared by the entries of a registry (`model.cross_options` by every feature cross, `model.history_options`
by every history encoder, `model.cf_options` by the models, `task_options` by the tasks) is an `OptionGroup`: the
union of the entries' options. Where two entries give one option different defaults (`num_heads`: 2 for autoint,
1 for finalmlp), the base config holds a typed placeholder (None, still settable from the command line) that means
"the chosen entry's own default"; `OptionGroup.resolve` writes the chosen entry's values into the section, so
config.json records every value a run used.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Type, TypeVar

from ml_collections import config_dict

from rec_jax.errors import UserError

T = TypeVar("T", bound="Options")


def _plain(section) -> Dict[str, Any]:
  """A config section (ConfigDict, dict or None) as a shallow dict of its values."""
  if section is None:
    return {}
  if isinstance(section, config_dict.ConfigDict):
    return {k: section[k] for k in section.keys()}
  return dict(section)


def _default(field: dataclasses.Field):
  if field.default_factory is not dataclasses.MISSING:   # type: ignore[misc]
    return field.default_factory()   # type: ignore[misc]
  return field.default


class Options:
  """Base of the options dataclasses (`@dataclasses.dataclass(frozen=True) class Options(options.Options)`)."""

  @classmethod
  def fields(cls) -> Dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}

  @classmethod
  def from_config(cls: Type[T], section=None, *, where: str = "options") -> T:
    values = _plain(section)
    fields = cls.fields()
    unknown = sorted(set(values) - set(fields))
    if unknown:
      raise UserError(f"{where}: unknown option(s) {unknown}; valid: {', '.join(fields) or 'none'}")
    kwargs = {}
    for name, field in fields.items():
      value = values.get(name)
      if value is None:
        continue
      default = _default(field)
      if isinstance(default, Options):
        value = type(default).from_config(value, where=f"{where}.{name}")
      elif isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)   # config.json gives lists back
      elif isinstance(default, dict):
        value = value.to_dict() if isinstance(value, config_dict.ConfigDict) else dict(value)
      kwargs[name] = value
    return cls(**kwargs)

  @classmethod
  def defaults(cls) -> Dict[str, Any]:
    """Every option with its default; nested options as nested dicts."""
    out = {}
    for name, field in cls.fields().items():
      default = _default(field)
      out[name] = default.defaults() if isinstance(default, Options) else default
    return out

  def to_dict(self) -> Dict[str, Any]:
    return {name: value.to_dict() if isinstance(value, Options) else value
            for name, value in ((f, getattr(self, f)) for f in self.fields())}


@dataclasses.dataclass(frozen=True)
class NoOptions(Options):
  """The options of an entry that has none."""


class OptionGroup:
  """The config section `section` shared by the entries of `registry` (each entry module defines `Options`)."""

  def __init__(self, section: str, registry):
    self.section = section
    self.registry = registry

  def _entries(self) -> Dict[str, Type[Options]]:
    return {name: self.registry.get(name).Options for name in self.registry}

  def defaults(self) -> config_dict.ConfigDict:
    """The union of every built-in entry's options: the common default, or a typed placeholder where defaults
    differ (the chosen entry's own default applies)."""
    seen: Dict[str, list] = {}
    for options in self._entries().values():
      for name, value in options.defaults().items():
        seen.setdefault(name, []).append(value)
    out = config_dict.ConfigDict()
    for name in sorted(seen):
      values = seen[name]
      same = all(v == values[0] for v in values)
      out[name] = values[0] if same else config_dict.placeholder(type(values[0]))
    return out

  def options(self, name: str, section, derived: Optional[Mapping[str, Any]] = None) -> Options:
    """Entry `name`'s options read from the shared section: keys of other entries are theirs; a key no entry
    declares is an error naming the valid ones; an unset option takes `derived`'s value for it, if any, else the
    entry's default."""
    entry = self.registry.get(name)
    values = _plain(section)
    own = entry.Options.fields()
    known = set(own)
    for options in self._entries().values():
      known |= set(options.fields())
    unknown = sorted(set(values) - known)
    if unknown:
      raise UserError(f"{self.section}: no {self.registry.kind} has option(s) {unknown}; valid: "
                      f"{', '.join(sorted(known)) or 'none'}")
    mine = {k: v for k, v in values.items() if k in own}
    mine.update({k: v for k, v in (derived or {}).items() if k in own and mine.get(k) is None})
    return entry.Options.from_config(mine, where=f"{self.section} ({self.registry.kind} {name!r})")

  def resolve(self, name: str, section: config_dict.ConfigDict, derived: Optional[Mapping[str, Any]] = None) -> None:
    """Writes entry `name`'s effective options into `section` (in place), so that config.json records them: an
    unset option (None) becomes `derived`'s value for it (a default that follows other config keys, e.g. a history
    encoder's max_length) or else the entry's default."""
    values = _plain(section)
    with section.unlocked():   # a config file may have replaced the section by a partial dict
      for key, value in self.options(name, section, derived).to_dict().items():
        if values.get(key) is None:
          section[key] = value
