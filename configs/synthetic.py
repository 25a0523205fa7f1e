r"""python -m rec_jax.main --config=configs/synthetic.py --workdir=/tmp/rec_jax/synthetic

The three-tower hybrid (BERT text + DeepFM crosses + CF) on the synthetic shop, CTR task. The tiny preset:
  python -m rec_jax.main --config=configs/synthetic.py:smoke --workdir=/tmp/rec_jax/smoke

Presets after the colon, comma-separated (big_vision style): `smoke` (tiny, < 1 minute), `seed=N`.
Ablations are one override each: --config.model.use_text=False, --config.model.use_cf=False,
--config.model.cross=none. Every option of the base config (rec_jax/config/base.py) is settable the same way, e.g.
--config.model.cross=dcnv2 --config.model.cross_options.low_rank=8.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import shop_smoke, use_synthetic_shop
from rec_jax.config.presets import parse_presets


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=("smoke",))
  # The base config's model is the default hybrid: DeepFM over the fields (the text vector is one of them, so
  # <region, text> learns regional taste for a style) in parallel with an MLP; a CF tower of an item id bias and a
  # small user x item id match (cf_dim 4: the shop's users have ~50 impressions each, wide id vectors memorise
  # them; a mean history does not beat the id match, measured, so model.history is none); a 1-layer, 64-wide
  # random-init BERT text tower.
  c = use_synthetic_shop(base_config(presets.seed))
  return shop_smoke(c) if "smoke" in presets else c
