r"""python -m launch.sweep --config=configs/zoo.py --sweep=configs/sweeps/zoo.py --workdir=/tmp/rec_jax/zoo
python -m launch.aggregate --sweep_dir=/tmp/rec_jax/zoo

Every family of configs/zoo.py on the synthetic shop, one seed (`:seeds=3` for three). The argument `smoke` runs
the tiny shop instead (seconds per family).
"""

import importlib.util
import os


def _families():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo.py")
  spec = importlib.util.spec_from_file_location("zoo_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.FAMILIES


def get_sweep(arg=None):
  parts = dict(p.partition("=")[::2] for p in (arg or "").split(",") if p)
  smoke = "smoke" in parts
  return dict(variants=[dict(name=f, preset=f + (",smoke" if smoke else "")) for f in _families()],
              seeds=tuple(range(int(parts.get("seeds") or 1))))
