import glob
import os

import pytest

from rec_jax.config.loader import load_config, unknown_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRACT = ("seed", "task", "data.name", "data.path", "train.num_steps", "model.use_text", "model.use_cf",
            "model.cross", "model.history", "model.text.pretrained")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))))
def test_configs_have_contract_keys_and_command_docstring(path):
  cfg = load_config(path)
  for key in CONTRACT:
    node = cfg
    for part in key.split("."):
      node = node[part]
  for section in ("data", "features", "model", "train", "eval", "checkpoint", "parallel"):
    assert section in cfg
  doc = open(path).read().split('"""')[1]
  assert doc.strip().splitlines()[0].startswith("python -m rec_jax.main --config=configs/")


def test_presets_and_seed():
  smoke = load_config(os.path.join(ROOT, "configs/synthetic.py") + ":smoke,seed=3")
  assert smoke.seed == 3 and smoke.train.num_steps < 100
  with pytest.raises(ValueError, match="unknown preset"):
    load_config(os.path.join(ROOT, "configs/synthetic.py") + ":huge")


def test_unknown_overrides_suggest_close_keys():
  cfg = load_config(os.path.join(ROOT, "configs/synthetic.py"))
  msgs = unknown_overrides(cfg, ["--config.model.use_txt=False", "--config.seed=2", "--config.zzz=1"])
  assert len(msgs) == 2 and "model.use_text" in msgs[0] and "zzz" in msgs[1]


def test_cold_start_presets():
  path = os.path.join(ROOT, "configs/cold_start_text.py")
  lora = load_config(path + ":lora,seed=2")
  assert lora.seed == 2 and lora.model.text.mode == "lora" and lora.data.shop.cold_wording == "paraphrase"
  assert load_config(path).model.text.mode == "frozen" and not load_config(path + ":off").model.use_text
  with pytest.raises(ValueError, match="one of the presets"):
    load_config(path + ":lora,frozen")
