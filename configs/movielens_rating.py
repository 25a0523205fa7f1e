r"""python -m rec_jax.main --config=configs/movielens_rating.py --workdir=/tmp/rec_jax/ml100k_rating --config.data.path=/path/to/ml-100k

Rating prediction on MovieLens ml-100k with its five predefined folds (u1.base/u1.test ... u5.base/u5.test), the
protocol of the rating literature: biased MF with SVD++'s implicit feedback (rec_jax/models/zoo/mf.py; N(u) = the
user's 50 most recent earlier ratings, never a later split's) and the literature's L2 on the embedding rows each
batch uses (`train.embedding_l2`), trained on each fold's base file (10 % of it held out for validation, best
checkpoint and early stopping) and tested on its test file. `results.json` reports the
mean over the five folds as `rmse` and `mae` (std in `metrics_std`, each fold in `folds`); each fold's own run is
in `<workdir>/fold_u<k>/`. `data.path` is the extracted ml-100k directory (https://grouplens.org/datasets/movielens/100k/).

Defaults chosen on the folds' validation splits (README, "Rating on real data"); `python benchmarks/rating.py`
runs this config beside Surprise's SVD and SVD++ on the same folds.

Presets: `mf` (plain biased MF: no implicit feedback), `neumf` (NeuMF instead of MF), `smoke` (few steps, for
tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("mf", "neumf", "smoke")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  use_real_dataset(c, "movielens", options=dict(variant="100k", unknown_ids="drop"),
                   split=dict(kind="predefined", folds=("u1", "u2", "u3", "u4", "u5"), validation_fraction=0.1),
                   label="rating")
  c.task = "rating"
  c.model.update(name="neumf" if "neumf" in presets else "mf", use_text=False, use_cf=False, cf_dim=0,
                 embed_dim=32, history="none", embedding_init_std=0.01)
  c.model.cf_options.implicit = "mf" not in presets and "neumf" not in presets
  c.features.history_length = 50
  c.train.update(num_steps=3000, batch_size=1024, learning_rate=3e-3, warmup_steps=100, weight_decay=0.0,
                 embedding_l2=0.1)
  c.train.early_stopping.patience = 4
  c.train.lr_multipliers = {}   # (update() would merge a dict into the default, not replace it)
  c.eval.update(every_steps=250, batch_size=4096)
  c.checkpoint.every_steps = 250   # the best checkpoint by rmse (the task's)
  if "smoke" in presets:
    c.train.update(num_steps=30, batch_size=256, warmup_steps=5, log_every=10)
    c.eval.update(every_steps=15, batch_size=512)
    c.checkpoint.every_steps = 15
  return c
