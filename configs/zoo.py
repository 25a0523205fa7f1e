r"""python -m rec_jax.main --config=configs/zoo.py:dcnv2 --workdir=/tmp/rec_jax/zoo/dcnv2

The model zoo on the synthetic shop: one preset per family a recsys paper compares against, each the family as its
paper has it (no text tower, no CF tower unless the family is one), so the zoo table (configs/sweeps/zoo.py)
compares like with like. Presets (one family, default dcnv2, plus `smoke` and `seed=N` as in configs/synthetic.py):

  CTR (task ctr; user and item ids are categorical fields like the other features, as in FuxiCTR):
    lr, fm, deepfm, dnn, dcn, dcnv2, autoint, xdeepfm, finalmlp   the feature crosses of rec_jax/models/crosses/
    din          DNN over the fields plus DIN's target attention over the click history (the item id embedding
                 is the attention's target)
    mf, neumf    ids only (rec_jax/models/cf/mf.py, neumf.py)
    hybrid       configs/synthetic.py's three towers (random-init BERT text + DeepFM + CF), for reference
  rating (task rating, 1-5 stars): mf_rating (biased MF), neumf_rating
  retrieval (task retrieval, full ranking of the catalogue): two_tower (user: features + click history; item:
                 id + features), two_tower_text (plus the item text tower: how new items get retrieved)
  next item (task next_item, full ranking): sasrec, bert4rec, seq_mean (mean of history embeddings), pop
                 (popularity: one learned score per item, no user; RecBole's Pop)
"""

import ml_collections

from rec_jax.config.base import base_config
from rec_jax.config.datasets import shop_smoke, use_synthetic_shop
from rec_jax.config.presets import parse_presets

CROSS_FAMILIES = ("lr", "fm", "deepfm", "dnn", "dcn", "dcnv2", "autoint", "xdeepfm", "finalmlp")
FAMILIES = CROSS_FAMILIES + ("din", "mf", "neumf", "hybrid", "mf_rating", "neumf_rating", "two_tower",
                             "two_tower_text", "sasrec", "bert4rec", "seq_mean", "pop")
DEFAULT = "dcnv2"


def _cross(c, family):
  c.model.update(use_text=False, use_cf=False, cross=family, field_towers=())
  c.features.categorical = tuple(c.features.categorical) + ("user_id", "item_id")
  if family == "din":
    # DIN: an MLP over the fields and the attention-pooled history, the candidate's id embedding as target.
    c.model.update(cross="dnn", use_cf=True, cf_user_embedding=False, cf_dim=0, history="din",
                   field_towers=("history",))
    c.train.lr_multipliers = {"^cf/items/": 0.1}
  else:
    c.train.lr_multipliers = {}


def _cf(c, family):
  c.model.update(name=family.replace("_rating", ""), use_text=False, use_cf=False, cf_dim=0)
  c.train.lr_multipliers = {}
  if family.endswith("_rating"):
    c.task = "rating"   # its best checkpoint: the lowest rmse (the task's)
    c.features.label = "rating"
    c.features.oracle = ""


def _ranking(c, family):
  c.model.update(use_cf=False, cf_dim=0, history="mean")
  c.train.lr_multipliers = {"^text/": 0.5} if family == "two_tower_text" else {}
  if family.startswith("two_tower"):
    c.task = "retrieval"
    # The user tower reads the user's features and click history, not a user id: on this shop (~11 clicks per
    # user in train) a user id vector memorises them (hit@10 0.0185 with it, 0.0291 without; measured).
    c.model.update(name="two_tower", use_text=family == "two_tower_text", cf_user_embedding=False)
  elif family == "pop":
    c.task = "next_item"
    c.model.update(name="popularity", use_text=False, history="none")
  else:
    c.task = "next_item"
    c.model.update(name="sequential", use_text=False, history=family.replace("seq_", ""))
    # The encoders' own head counts (the placeholder model.history_options.num_heads): SASRec 1, BERT4Rec 2.
    if family == "sasrec":
      # The SASRec paper's rate; at the base's 1e-2 it overfits by the first evaluation (validation
      # hit@10 0.011 at step 300, vs 0.021 at 1e-3; measured).
      c.train.learning_rate = 1e-3


SETUP = {**{f: _cross for f in CROSS_FAMILIES + ("din",)}, "hybrid": lambda c, f: None,
         **{f: _cf for f in ("mf", "neumf", "mf_rating", "neumf_rating")},
         **{f: _ranking for f in ("two_tower", "two_tower_text", "sasrec", "bert4rec", "seq_mean", "pop")}}


def get_config(arg=None) -> ml_collections.ConfigDict:
  presets = parse_presets(arg, __file__, flags=("smoke",), choices={"family": (DEFAULT, FAMILIES)})
  family = presets.choices["family"]
  c = use_synthetic_shop(base_config(presets.seed))
  if "smoke" in presets:
    shop_smoke(c)
  SETUP[family](c, family)   # the ranking tasks choose their best checkpoint by ndcg@10 (the task's)
  return c
