import numpy as np
import pytest

from rec_jax.data.datasets import DATASETS, load_dataset
from rec_jax.data.synthetic_shop import world

SPEC = world.ShopSpec(num_users=150, num_items=80, num_impressions=6000, history_length=5, dirty_rate=0.0)


def test_same_seed_same_shop_other_seed_other_shop():
  a, b = world.generate(SPEC), world.generate(SPEC)
  c = world.generate(world.ShopSpec(**{**SPEC.__dict__, "seed": 1}))
  for split in world.SPLITS:
    for key in ("user_id", "item_id", "label", "p_true", "title"):
      np.testing.assert_array_equal(a[split][key], b[split][key])
  assert not np.array_equal(a["train"]["label"], c["train"]["label"])


def test_splits_are_chronological_and_cold_items_only_in_test():
  shop = world.generate(SPEC)
  assert shop["train"]["timestamp"].max() <= shop["validation"]["timestamp"].min()
  assert shop["validation"]["timestamp"].max() <= shop["test"]["timestamp"].min()
  seen = set(shop["train"]["item_id"]) | set(shop["validation"]["item_id"])
  cold = set(shop["test"]["item_id"]) - seen
  assert 0.05 <= len(cold) / SPEC.num_items <= 0.15
  assert 0.1 < np.mean([i in cold for i in shop["test"]["item_id"]]) < 0.35


def test_history_holds_earlier_clicks_of_the_same_user():
  shop = world.generate(SPEC)
  rows = {k: np.concatenate([shop[s][k] for s in world.SPLITS]) for k in ("user_id", "item_id", "label", "history")}
  clicked = {}
  for u, i, y, h in zip(rows["user_id"], rows["item_id"], rows["label"], rows["history"]):
    assert list(h) == clicked.get(u, [])[-SPEC.history_length:]
    if y:
      clicked.setdefault(u, []).append(i)


def test_planted_probability_is_informative():
  shop = world.generate(SPEC)
  from rec_jax.evaluation.metrics import auc
  assert 0.7 < auc(shop["test"]["label"], shop["test"]["p_true"]) < 0.95
  assert 0.1 < shop["train"]["label"].mean() < 0.5


def test_tfds_builder_round_trip(tfds_dir):
  import ml_collections
  cfg = ml_collections.ConfigDict(dict(name="synthetic_shop", data_dir=tfds_dir, path="",
                                       shop=dict(num_users=150, num_items=80, num_impressions=3000,
                                                 history_length=5, dirty_rate=0.02, seed=7)))
  raw = load_dataset(cfg)
  clean = world.generate(world.ShopSpec(**cfg.shop))
  for split in world.SPLITS:
    cols = raw.splits[split]
    # Dirt adds duplicates only; corrupted rows stay rows.
    n_dup = len(cols["label"]) - len(clean[split]["label"])
    assert 0 <= n_dup <= 0.02 * len(clean[split]["label"])
    assert set(clean[split]["impression_id"]) == set(cols["impression_id"])
  # Read back a second time: the cached columns are identical.
  again = load_dataset(cfg)
  np.testing.assert_array_equal(again.splits["test"]["p_true"], raw.splits["test"]["p_true"])


def test_unknown_dataset_name_suggests():
  with pytest.raises(KeyError, match="synthetic_shop"):
    DATASETS.get("synthetic_shopp")


def test_paraphrased_cold_items_never_use_warm_taste_words():
  from rec_jax.data.synthetic_shop import text_bank  # pylint: disable=import-outside-toplevel
  same = world.make_items(SPEC, np.random.default_rng(0))
  para = world.make_items(world.ShopSpec(**{**SPEC.__dict__, "cold_wording": "paraphrase"}), np.random.default_rng(0))
  warm, cold = ~para["is_cold"], para["is_cold"]
  assert cold.sum() == 8
  # Warm items and every non-text attribute are unchanged: only cold items' wording differs.
  np.testing.assert_array_equal(same["title"][warm], para["title"][warm])
  np.testing.assert_array_equal(same["style"], para["style"])
  styles = list(text_bank.TASTES)
  # Taste words of warm items; "warm" also occurs in a category phrase ("with a warm lining"), which all items share.
  category_words = {w for nouns, phrases in text_bank.CATEGORIES.values() for p in nouns + phrases for w in p.split()}
  warm_words = {w for words in text_bank.TASTES.values() for w in words} - category_words
  warm_phrases = set(text_bank.TASTE_PHRASES.values())
  for title, description, style in zip(para["title"][cold], para["description"][cold], para["style"][cold]):
    words = set(f"{title} {description}".replace(",", " ").replace(".", " ").split())
    assert not words & warm_words and not any(p in description for p in warm_phrases)
    assert words & set(text_bank.COLD_TASTES[styles[style]])
    assert description.endswith(text_bank.COLD_TASTE_PHRASES[styles[style]] + ".")
  with pytest.raises(ValueError, match="cold_wording='synonyms'"):
    world.make_items(world.ShopSpec(**{**SPEC.__dict__, "cold_wording": "synonyms"}), np.random.default_rng(0))


SEARCH = world.ShopSpec(**{**SPEC.__dict__, "search": True, "results_per_query": 5})


def test_search_sessions_share_user_query_and_split():
  shop = world.generate(SEARCH)
  rows = {k: np.concatenate([shop[s][k] for s in world.SPLITS])
          for k in ("session_id", "user_id", "query", "timestamp")}
  sessions, counts = np.unique(rows["session_id"], return_counts=True)
  assert (counts == 5).all() and len(sessions) == SEARCH.num_impressions // 5
  for key in ("user_id", "query", "timestamp"):
    per_session = {}
    for s, v in zip(rows["session_id"], rows[key]):
      assert per_session.setdefault(s, v) == v, key
  # Splits fall between sessions.
  assert not set(shop["train"]["session_id"]) & set(shop["validation"]["session_id"])
  assert not set(shop["validation"]["session_id"]) & set(shop["test"]["session_id"])


def test_queries_name_a_category_noun_and_sometimes_a_warm_taste_word():
  from rec_jax.data.synthetic_shop import text_bank  # pylint: disable=import-outside-toplevel
  shop = world.generate(SEARCH)["train"]
  nouns = {n: c for c, (ns, _) in text_bank.CATEGORIES.items() for n in ns}
  taste_words = {w for ws in text_bank.TASTES.values() for w in ws}
  styled, in_category = 0, 0
  for query, category in zip(shop["query"], shop["category"]):
    noun = next(n for n in sorted(nouns, key=len, reverse=True) if query.endswith(n))
    prefix = query[:-len(noun)].strip()
    assert prefix == "" or prefix in taste_words, query
    styled += prefix != ""
    in_category += nouns[noun] == category
  n = len(shop["query"])
  assert 0.6 < styled / n < 0.8          # query_style_share 0.7
  assert 0.55 < in_category / n < 0.75   # query_relevance 0.6 plus random hits


def test_search_relevance_is_planted_in_the_click_model():
  spec = world.ShopSpec(**{**SEARCH.__dict__, "num_impressions": 20000})
  rng = np.random.default_rng(0)
  items = world.make_items(spec, rng)
  i = np.arange(spec.num_items)
  logits = world.query_logits(spec, items, i, items["category_index"], items["style"])
  np.testing.assert_allclose(logits, spec.query_style_scale)
  logits = world.query_logits(spec, items, i, (items["category_index"] + 1) % 20, np.full(len(i), -1))
  np.testing.assert_allclose(logits, -spec.query_category_scale)
  shop = world.generate(spec)["train"]
  from rec_jax.evaluation.metrics import auc  # pylint: disable=import-outside-toplevel
  assert auc(shop["label"], shop["p_true"]) > 0.75


def test_search_shop_through_tfds_and_governance(tfds_dir):
  import ml_collections  # pylint: disable=import-outside-toplevel
  from rec_jax.data.governance import govern  # pylint: disable=import-outside-toplevel
  shop = dict(num_users=150, num_items=80, num_impressions=3000, history_length=5, dirty_rate=0.05, seed=3,
              search=True, results_per_query=5)
  raw = load_dataset(ml_collections.ConfigDict(dict(name="synthetic_shop", data_dir=tfds_dir,
                                                                      path="", shop=shop)))
  clean = world.generate(world.ShopSpec(**shop))
  assert {"query", "session_id"} <= set(raw.splits["train"])
  kept, report = govern(raw.schema, raw.splits)
  for split, r in report["splits"].items():
    assert r["rows_read"] == r["rows_kept"] + r["rows_dropped"] == len(raw.splits[split]["label"])
  # Dirt blanks some queries; such rows are dropped and counted, never kept with an empty query.
  assert sum(r["dropped"].get("missing:query", 0) for r in report["splits"].values()) > 0
  assert all((kept[s]["query"] != "").all() for s in kept)
  np.testing.assert_array_equal(np.sort(kept["test"]["session_id"]),
                                np.sort(clean["test"]["session_id"][np.isin(clean["test"]["impression_id"],
                                                                            kept["test"]["impression_id"])]))
