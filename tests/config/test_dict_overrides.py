"""Command-line overrides of dict-valued options (rec_jax/config/dict_overrides.py): the whole dict or one entry,
typed like the entry replaced, taken out of the command line for absl and applied to the parsed config."""

import ml_collections
import pytest

from rec_jax.config import dict_overrides
from rec_jax.config.loader import read_command_line
from rec_jax.errors import UserError


def _config():
  return ml_collections.ConfigDict(dict(
      seed=0,
      train=dict(lr_multipliers={"^text/": 0.5, "^cf/(users|items)/": 0.1}, num_steps=10),
      features=dict(hash_buckets={}),
      data=dict(options=dict(variant="auto", strict=True, min_rating=1))))


def _apply(*args):
  cfg = _config()
  rest, overrides, errors = dict_overrides.split(cfg, ["prog", *args])
  assert not errors, errors
  dict_overrides.apply(cfg, overrides)
  return cfg, rest


def test_whole_dict_as_json_or_python_literal_and_empty():
  cfg, rest = _apply('--config.train.lr_multipliers={"^bert/": 0.2}', "--config.train.num_steps=3")
  assert dict(cfg.train.lr_multipliers) == {"^bert/": 0.2}
  assert rest == ["prog", "--config.train.num_steps=3"]   # ordinary overrides are left to absl
  assert dict(_apply("--config.train.lr_multipliers={'^a/': 1}")[0].train.lr_multipliers) == {"^a/": 1}
  assert dict(_apply("--config.train.lr_multipliers={}")[0].train.lr_multipliers) == {}


def test_one_entry_replaced_keeps_its_type_a_new_entry_is_json_or_text():
  cfg, _ = _apply("--config.train.lr_multipliers.^text/=1", "--config.train.lr_multipliers.^cf/=0",
                  "--config.features.hash_buckets.brand=1000", "--config.data.options.variant=100",
                  "--config.data.options.strict=false", "--config.data.options.min_rating=2",
                  "--config.data.options.duplicates=keep")
  assert dict(cfg.train.lr_multipliers) == {"^text/": 1.0, "^cf/(users|items)/": 0.1, "^cf/": 0}
  assert isinstance(cfg.train.lr_multipliers["^text/"], float)
  assert dict(cfg.features.hash_buckets) == {"brand": 1000}
  assert dict(cfg.data.options) == dict(variant="100", strict=False, min_rating=2, duplicates="keep")


def test_later_overrides_win_and_entries_apply_after_a_whole_dict():
  cfg, _ = _apply("--config.train.lr_multipliers={}", "--config.train.lr_multipliers.^x/=2",
                  "--config.train.lr_multipliers.^x/=3")
  assert dict(cfg.train.lr_multipliers) == {"^x/": 3}


@pytest.mark.parametrize("arg,message", [
    ("--config.train.lr_multipliers=0.5", "train.lr_multipliers is a dict; give it as JSON"),
    ("--config.train.lr_multipliers={oops", "train.lr_multipliers is a dict"),
    ("--config.train.lr_multipliers.^text/=fast", "expected a number, as the entry it replaces (0.5)"),
    ("--config.train.lr_multipliers.^text/=true", "expected a number"),
    ("--config.data.options.strict=maybe", "expected true or false"),
])
def test_bad_values_are_one_message_each(arg, message):
  rest, overrides, errors = dict_overrides.split(_config(), ["prog", arg])
  assert overrides == [] and len(errors) == 1 and errors[0] == f"{arg}: " + errors[0].split(": ", 1)[1]
  assert message in errors[0], errors[0]


def test_an_option_the_config_lacks_is_left_to_the_unknown_key_check():
  cfg = ml_collections.ConfigDict(dict(train=dict(num_steps=1)))
  rest, overrides, errors = dict_overrides.split(cfg, ["prog", "--config.data.options.variant=1m"])
  assert (rest, overrides, errors) == (["prog", "--config.data.options.variant=1m"], [], [])


def test_read_command_line_on_a_real_config_file(monkeypatch):
  import os
  monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
  errors, argv, overrides = read_command_line(
      ["rec_jax.main", "--config=configs/synthetic.py:smoke", "--config.train.lr_multipliers.^text/=0.2",
       "--config.train.learnin_rate=1"])
  assert len(errors) == 1
  assert errors[0].startswith("unknown config key 'train.learnin_rate': did you mean train.learning_rate,")
  assert argv == ["rec_jax.main", "--config=configs/synthetic.py:smoke", "--config.train.learnin_rate=1"]
  assert overrides == [dict_overrides.DictOverride("train.lr_multipliers", "^text/", 0.2)]


def test_apply_on_a_locked_config():
  cfg = _config()
  cfg.lock()
  dict_overrides.apply(cfg, [dict_overrides.DictOverride("train.lr_multipliers", "^new/", 2.0)])
  assert cfg.train.lr_multipliers["^new/"] == 2.0
  with pytest.raises(AttributeError):
    cfg.train.not_there = 1   # still locked


def test_user_error_type():
  with pytest.raises(UserError):
    dict_overrides._override(_config(), "--config.train.lr_multipliers=[]")
