"""Typed options: a dataclass reads its config section (defaults for what is absent, an error naming the valid keys
for what it does not know); a section shared by a registry's entries is their union, with a placeholder where their
defaults differ that resolves to the chosen entry's; and the base config lists every option of every module."""

from __future__ import annotations

import dataclasses
import os
from typing import Tuple

import ml_collections
import pytest

from rec_jax import options
from rec_jax.config.base import base_config
from rec_jax.config.loader import load_config
from rec_jax.data.features import FeatureOptions
from rec_jax.experiment import (CROSS_OPTIONS, HISTORY_OPTIONS, MODEL_OPTIONS, TASK_OPTIONS, build_cross,
                                resolve_config)
from rec_jax.models.options import BUILDER_KEYS, ModelOptions
from rec_jax.text.options import TextOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = {"model.cross_options": CROSS_OPTIONS, "model.history_options": HISTORY_OPTIONS,
          "model.cf_options": MODEL_OPTIONS, "task_options": TASK_OPTIONS}


@dataclasses.dataclass(frozen=True)
class _Inner(options.Options):
  rank: int = 8


@dataclasses.dataclass(frozen=True)
class _Outer(options.Options):
  width: int = 4
  layers: Tuple[int, ...] = (8, 4)
  inner: _Inner = dataclasses.field(default_factory=_Inner)


def test_from_config_takes_defaults_converts_lists_and_names_unknown_keys():
  assert _Outer.from_config({}) == _Outer()
  got = _Outer.from_config(ml_collections.ConfigDict(dict(layers=[2], inner=dict(rank=3), width=None)))
  assert got == _Outer(width=4, layers=(2,), inner=_Inner(rank=3))   # None: the default; JSON lists: tuples
  with pytest.raises(ValueError, match=r"model.x: unknown option\(s\) \['widht'\]; valid: width, layers, inner"):
    _Outer.from_config({"widht": 3}, where="model.x")
  with pytest.raises(ValueError, match=r"model.x.inner: unknown option\(s\) \['rnk'\]"):
    _Outer.from_config({"inner": {"rnk": 3}}, where="model.x")
  assert _Outer.defaults() == {"width": 4, "layers": (8, 4), "inner": {"rank": 8}}


def test_a_shared_section_is_the_union_with_placeholders_where_defaults_differ():
  cross = CROSS_OPTIONS.defaults()
  assert cross.low_rank == 0 and cross.structure == "parallel" and cross.layer_sizes == (16, 16)
  # autoint 2 heads, finalmlp 1: a placeholder, still typed (settable from the command line), the entry's default.
  assert cross.num_heads is None and cross.get_type("num_heads") is int
  assert CROSS_OPTIONS.options("autoint", cross).num_heads == 2
  assert CROSS_OPTIONS.options("finalmlp", cross).num_heads == 1
  assert HISTORY_OPTIONS.options("bert4rec", HISTORY_OPTIONS.defaults()).num_heads == 2
  assert HISTORY_OPTIONS.options("sasrec", HISTORY_OPTIONS.defaults()).num_heads == 1
  # Another entry's option is not an error; an option no entry has is, naming the valid ones.
  assert CROSS_OPTIONS.options("dcn", {"num_layers": 1, "low_rank": 8}).num_layers == 1
  with pytest.raises(ValueError, match=r"model.cross_options: no feature cross has option\(s\) \['low_rnak'\]; "
                                       r"valid: .*low_rank"):
    build_cross("dcnv2", 3, 4, {"low_rnak": 8}, rngs=None)


def test_resolving_writes_the_chosen_entries_values():
  cfg = load_config(os.path.join(ROOT, "configs", "zoo.py") + ":bert4rec,smoke")
  assert cfg.model.history_options.num_heads is None
  resolved = resolve_config(cfg)
  assert resolved.model.history_options.num_heads == 2 and resolved.model.history_options.max_length == 6
  assert cfg.model.history_options.num_heads is None   # a copy: the caller's config is unchanged
  assert resolve_config(resolved).to_json_best_effort() == resolved.to_json_best_effort()
  autoint = load_config(os.path.join(ROOT, "configs", "zoo.py") + ":autoint,smoke")
  assert resolve_config(autoint).model.cross_options.num_heads == 2


def test_the_base_config_lists_every_option_of_every_module():
  c = base_config()
  for section, group in GROUPS.items():
    node = c
    for part in section.split("."):
      node = node[part]
    entries = {name: group.registry.get(name).Options for name in group.registry}
    assert set(node) == set().union(*(o.fields() for o in entries.values())), section
  assert set(c.features) == set(FeatureOptions.fields())
  assert set(c.model) == set(ModelOptions.fields()) | set(BUILDER_KEYS)
  assert set(c.model.text) == set(TextOptions.fields())
  assert ModelOptions.from_model_section(c.model) == ModelOptions()


def test_history_lengths_follow_the_features():
  cfg = load_config(os.path.join(ROOT, "configs", "synthetic.py"))
  assert cfg.data.shop.history_length == cfg.features.history_length == 20
  assert cfg.model.history_options.max_length == 21
  cfg.features.history_length = 7   # as --config.features.history_length=7 does
  assert cfg.data.shop.history_length == 7 and cfg.model.history_options.max_length == 8
  cfg.model.history_options.max_length = 30   # set on its own, it stays
  cfg.features.history_length = 9
  assert cfg.model.history_options.max_length == 30 and cfg.data.shop.history_length == 9
