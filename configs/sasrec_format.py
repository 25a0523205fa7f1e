r"""python -m rec_jax.main --config=configs/sasrec_format.py --workdir=/tmp/rec_jax/sasrec_ml1m --config.data.path=/path/to/ml-1m.txt

SASRec on data in the SASRec format (kang205/SASRec `data/<name>.txt`: one `user item` pair per line, each user's
lines in time order), with the SASRec paper's protocol: leave-one-out (each user's last item is the test, the
second-last the validation), next-item prediction, and every test item ranked against 100 negatives drawn
uniformly from the items the user never interacted with, once with a fixed seed (`eval.ranking.negative_seed`)
and saved in `<workdir>/eval_negatives/`, so every model compared sees the same candidates. Reports hit@K and
ndcg@K for K in 1, 5, 10 (the paper's Hit@10 and NDCG@10), mrr@K, and the /warm and /cold slices (a test item
absent from training is cold). Model: 2 causal self-attention blocks of width 64 over the last 50 items, dropout
0.2, Adam 1e-3 (the paper's; maxlen 200 for ml-1m in the paper: `--config.features.history_length=200`), trained
on whole packed user sequences, early stopping after 5 evaluations without a better validation ndcg@10. These
defaults were chosen on Beauty (configs/iclrec_seq.py), not on ml-1m.

Presets: `bert4rec` (BERT4Rec's cloze objective instead), `full` (rank the whole catalogue instead of 100
negatives: RecBole's protocol, excluding the user's earlier items), `smoke` (tiny, for tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("bert4rec", "full", "smoke")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  use_real_dataset(c, "sequence_txt", options=dict(file="", name=""), split=dict(kind="leave_one_out"))
  c.task = "next_item"
  c.features.history_length = 50
  c.model.update(name="sequential", use_text=False, use_cf=False, cf_dim=0, embed_dim=64,
                 history="bert4rec" if "bert4rec" in presets else "sasrec")
  # Dropout 0.2 as the paper's for ml-1m (0.5 for its sparse Amazon sets: configs/iclrec_seq.py); packed
  # training (16 rows of 51 positions per step, tasks/packed_sequences.py), constant Adam 1e-3, early stopping.
  c.model.history_options.update(num_layers=2, num_heads=1, dropout=0.2)
  c.train.update(num_steps=8000, batch_size=16, learning_rate=1e-3, weight_decay=0.0, final_lr_fraction=1.0)
  c.train.lr_multipliers = {}   # (update() would merge a dict into the default, not replace it)
  c.train.early_stopping.patience = 5
  c.eval.update(every_steps=500, batch_size=1024, ks=(1, 5, 10))
  c.eval.ranking.update(candidates="full" if "full" in presets else "sampled", unit="interaction",
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
