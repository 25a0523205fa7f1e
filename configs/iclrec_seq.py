r"""python -m rec_jax.main --config=configs/iclrec_seq.py --workdir=/tmp/rec_jax/beauty --config.data.path=/path/to/Beauty.txt

SASRec on the sequence files of S3-Rec / CoSeRec / ICLRec (salesforce/ICLRec `data/`: Amazon Beauty,
Sports_and_Outdoors, Toys_and_Games, and Yelp; one line per user, `user item item ...` in time order: the
`user_sequences` format), with the protocol of those papers and of RecBole: leave-one-out (each user's last item
is the test, the second-last the validation) and every test item ranked against the whole catalogue, the user's
earlier items excluded. Reports hit@K, ndcg@K, mrr@K for K in 1, 5, 10, 20 and the /warm and /cold slices.

Training: each user's train sequence once per epoch, packed (tasks/packed_sequences.py), full softmax over the
items; early stopping on validation ndcg@10 (patience 5 evaluations of 500 steps), so `train.num_steps` is a
budget. The defaults (dropout, learning rate, batch, steps) were chosen on Beauty's validation split: README,
"Sequential recommendation on real data".

Presets: `sampled` (the SASRec paper's protocol: 100 negatives drawn uniformly from the items the user never
interacted with, fixed by `eval.ranking.negative_seed`), `bert4rec` (BERT4Rec's cloze objective), `bce`
(SASRec's binary loss with one negative per position instead of the softmax), `interaction` (RecBole's training
unit: one row per click with its history), `smoke` (tiny, for tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("sampled", "bert4rec", "bce", "interaction", "smoke")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  use_real_dataset(c, "user_sequences", options=dict(file="", name=""), split=dict(kind="leave_one_out"))
  c.task = "next_item"
  c.task_options.update(loss="bce" if "bce" in presets else "softmax",
                        training_unit="interaction" if "interaction" in presets else "sequence")
  c.features.history_length = 50
  c.model.update(name="sequential", use_text=False, use_cf=False, cf_dim=0, embed_dim=64,
                 history="bert4rec" if "bert4rec" in presets else "sasrec")
  c.model.history_options.update(num_layers=2, num_heads=1, dropout=0.5)
  c.train.update(num_steps=8000, batch_size=16, learning_rate=1e-3, weight_decay=0.0, warmup_steps=100,
                 final_lr_fraction=1.0)
  c.train.lr_multipliers = {}   # (update() would merge a dict into the default, not replace it)
  c.train.early_stopping.patience = 5
  c.eval.update(every_steps=500, batch_size=1024, ks=(1, 5, 10, 20))
  c.eval.ranking.update(candidates="sampled" if "sampled" in presets else "full", unit="interaction",
                        exclude="seen", num_negatives=100, sampler="uniform")
  c.checkpoint.every_steps = 500   # the best checkpoint by ndcg@10 (the task's)
  if "smoke" in presets:
    c.features.history_length = 8
    c.model.embed_dim = 16
    c.train.update(num_steps=20, batch_size=8, warmup_steps=5, log_every=10)
    c.train.early_stopping.patience = 0
    c.eval.update(every_steps=10, batch_size=64)
    c.eval.ranking.num_negatives = 10
    c.checkpoint.every_steps = 10
  return c
