"""The synthetic shop's world: users, items, impressions and a planted click model, all drawn from one seed.

The click probability of an impression is sigmoid of a sum of parts that the model families of rec_jax can each
learn: CF latent factors (user · item; users cluster in taste communities that only behaviour reveals), a cross effect (user attribute × item category), text semantics (user taste
vs the style words of the item text), price sensitivity, item popularity and a small time-of-day effect. The true
probability is stored on every row so that evaluation can report the oracle AUC.

With `ShopSpec.search`, impressions are search results: each session is a user's query text and the items shown for
it (`session_id`, `query` columns), and the click model adds query relevance (category and style match), which a
model can only learn by reading the query.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np

from rec_jax.data.synthetic_shop import text_bank
from rec_jax.errors import UserError

AGE_BUCKETS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
GENDERS = ["f", "m", "x"]
DEVICES = ["mobile", "desktop", "tablet"]
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class ShopSpec:
  """Sizes and planted effect strengths of one synthetic shop."""
  num_users: int = 5000
  num_items: int = 2000
  num_impressions: int = 300_000
  num_regions: int = 12
  brands_per_category: int = 6
  cf_rank: int = 4
  cf_communities: int = 12   # users' CF factors cluster around this many community centres
  cf_personal_std: float = 0.3   # share (std) of a user's CF factor that is personal rather than communal
  history_length: int = 20
  cold_item_fraction: float = 0.1
  cold_impression_share: float = 0.2   # share of test impressions that show a cold (new) item
  # How cold items word their style: "same" (the warm items' taste words) or "paraphrase" (synonyms and phrases no
  # warm item uses; see text_bank.COLD_TASTES), which only a pretrained language model can link to a taste.
  cold_wording: str = "same"
  # Search (`search=True`): every impression is one of `results_per_query` results shown for a user's query, which
  # names a product (a category noun) and, in `query_style_share` of queries, a style in the warm items' taste
  # words; `query_relevance` of results come from the query's category. See `_sample_search`.
  search: bool = False
  results_per_query: int = 10
  query_relevance: float = 0.6
  query_style_share: float = 0.7
  validation_fraction: float = 0.1
  test_fraction: float = 0.1
  dirty_rate: float = 0.01
  seed: int = 0
  # Planted effect scales (logit units).
  base_logit: float = -1.6
  cf_scale: float = 0.35
  cross_scale: float = 0.9
  taste_scale: float = 1.2
  taste_personal_std: float = 0.15
  price_scale: float = 0.5
  item_bias_scale: float = 0.5
  hour_scale: float = 0.15
  query_category_scale: float = 1.5   # logit penalty of a result outside the query's category
  query_style_scale: float = 1.0   # logit bonus of a result in the style the query names

  def __post_init__(self):
    """A shop whose splits would be empty, or whose sizes are not counts, is refused before it is generated."""
    counts = ("num_users", "num_items", "num_impressions", "num_regions", "brands_per_category", "cf_rank",
              "cf_communities", "results_per_query")
    bad = [f"data.shop.{k}={getattr(self, k)!r} must be an integer >= 1" for k in counts
           if isinstance(getattr(self, k), bool) or not isinstance(getattr(self, k), int) or getattr(self, k) < 1]
    for k in ("validation_fraction", "test_fraction"):
      if not 0 < getattr(self, k) < 1:
        bad.append(f"data.shop.{k}={getattr(self, k)!r} must be > 0 and < 1 (the split would be empty)")
    if self.validation_fraction + self.test_fraction >= 1:
      bad.append("data.shop.validation_fraction + test_fraction must be < 1 (no training impressions would be left)")
    for k in ("cold_item_fraction", "cold_impression_share", "dirty_rate", "query_relevance", "query_style_share"):
      if not 0 <= getattr(self, k) <= 1:
        bad.append(f"data.shop.{k}={getattr(self, k)!r} must be >= 0 and <= 1")
    if bad:
      raise UserError("; ".join(bad))


def _brand_names(rng: np.random.Generator, count: int) -> List[str]:
  names = set()
  syl = text_bank.BRAND_SYLLABLES
  while len(names) < count:
    names.add("".join(rng.choice(syl, size=rng.integers(2, 4))))
  return sorted(names)


COLD_WORDINGS = {"same": (text_bank.TASTES, text_bank.TASTE_PHRASES),
                 "paraphrase": (text_bank.COLD_TASTES, text_bank.COLD_TASTE_PHRASES)}


def _item_text(rng, category: str, style: str, brand: str, colour: str, material: str, wording: str = "same"):
  nouns, phrases = text_bank.CATEGORIES[category]
  tastes, taste_phrases = COLD_WORDINGS[wording]
  words = tastes[style]
  w1, w2 = rng.choice(words, size=2, replace=False)
  noun = nouns[rng.integers(len(nouns))]
  title = f"{brand} {w1} {colour} {noun}"
  extra = rng.choice(phrases, size=rng.integers(1, len(phrases) + 1), replace=False)
  description = (f"A {w2} {noun} in {material} {' and '.join(extra)}, "
                 f"{taste_phrases[style]}.")
  return title, description


def make_items(spec: ShopSpec, rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """Item catalogue: attributes, text, style, latent factors; the last `cold` items are new arrivals."""
  n = spec.num_items
  if spec.cold_wording not in COLD_WORDINGS:
    raise UserError(f"data.shop.cold_wording={spec.cold_wording!r}: valid are {', '.join(COLD_WORDINGS)}")
  categories = list(text_bank.CATEGORIES)
  styles = list(text_bank.TASTES)
  brands = _brand_names(rng, len(categories) * spec.brands_per_category)
  cat = rng.integers(len(categories), size=n)
  style = rng.integers(len(styles), size=n)
  brand = cat * spec.brands_per_category + rng.integers(spec.brands_per_category, size=n)
  cat_price = rng.uniform(np.log(8.0), np.log(300.0), size=len(categories))
  log_price = cat_price[cat] + rng.normal(0, 0.45, size=n)
  is_cold = np.arange(n) >= n - int(round(spec.cold_item_fraction * n))
  titles, descriptions = [], []
  for i in range(n):
    wording = spec.cold_wording if is_cold[i] else "same"
    t, d = _item_text(rng, categories[cat[i]], styles[style[i]], brands[brand[i]],
                      rng.choice(text_bank.COLOURS), rng.choice(text_bank.MATERIALS), wording)
    titles.append(t)
    descriptions.append(d)
  return dict(
      item_id=np.array([f"i{i:05d}" for i in range(n)]), category=np.array(categories)[cat],
      category_index=cat, style=style, brand=np.array(brands)[brand], brand_index=brand,
      price=np.round(np.exp(log_price), 2).astype(np.float32), log_price=log_price,
      title=np.array(titles), description=np.array(descriptions),
      latent=rng.normal(0, 1 / np.sqrt(spec.cf_rank), size=(n, spec.cf_rank)),
      bias=rng.normal(0, spec.item_bias_scale, size=n),
      popularity=rng.lognormal(0, 0.6, size=n),
      is_cold=is_cold)


def make_users(spec: ShopSpec, rng: np.random.Generator) -> Dict[str, np.ndarray]:
  """Users: demographics, device, a latent taste over styles, community CF factors and price sensitivity."""
  n = spec.num_users
  n_styles = len(text_bank.TASTES)
  age = rng.integers(len(AGE_BUCKETS), size=n)
  # Taste is shaped by where a user lives (each region likes two styles) plus a personal deviation: a user
  # attribute x text semantics cross that transfers to new items, and a per-user part only behaviour reveals.
  region = rng.integers(spec.num_regions, size=n)
  region_taste = np.full((spec.num_regions, n_styles), -0.35)
  liked = np.argsort(rng.random((spec.num_regions, n_styles)), axis=1)[:, :2]
  np.put_along_axis(region_taste, liked, 1.0, axis=1)
  taste = region_taste[region] + rng.normal(0, spec.taste_personal_std, size=(n, n_styles))
  # Younger users and mobile users are more price sensitive: a cross of attributes with price.
  device = rng.choice(len(DEVICES), p=[0.6, 0.3, 0.1], size=n)
  sensitivity = (1.2 - 0.3 * age + 0.6 * (device == 0)) / 1.5 + rng.normal(0, 0.2, size=n)
  # CF factors: users fall into taste communities that no attribute reveals, only behaviour (what they and
  # similar users clicked); a small personal part on top. Unit variance per factor in total, as for items.
  scale = 1 / np.sqrt(spec.cf_rank)
  centres = rng.normal(0, scale, size=(spec.cf_communities, spec.cf_rank))
  community = rng.integers(spec.cf_communities, size=n)
  latent = (np.sqrt(1 - spec.cf_personal_std ** 2) * centres[community]
            + spec.cf_personal_std * rng.normal(0, scale, size=(n, spec.cf_rank)))
  return dict(
      user_id=np.array([f"u{u:05d}" for u in range(n)]), age_index=age,
      age_bucket=np.array(AGE_BUCKETS)[age], gender_index=rng.integers(len(GENDERS), size=n),
      region=np.array([f"r{r:02d}" for r in region]),
      device=np.array(DEVICES)[device], taste=taste, sensitivity=sensitivity,
      latent=latent, community=community, activity=rng.lognormal(0, 0.5, size=n))


def click_logits(spec, users, items, u, i, hour, tables) -> np.ndarray:
  """The planted click model: the sum of the learnable parts, in logit units."""
  cf = spec.cf_scale * np.sum(users["latent"][u] * items["latent"][i], axis=1) * np.sqrt(spec.cf_rank)
  cross = spec.cross_scale * (tables["age_x_category"][users["age_index"][u], items["category_index"][i]]
                              + tables["gender_x_category"][users["gender_index"][u], items["category_index"][i]])
  taste = spec.taste_scale * users["taste"][u, items["style"][i]]
  price_z = (items["log_price"][i] - tables["log_price_mean"]) / tables["log_price_std"]
  price = -spec.price_scale * users["sensitivity"][u] * price_z
  return (spec.base_logit + cf + cross + taste + price + items["bias"][i]
          + spec.hour_scale * tables["hour"][hour])


def _sample_impressions(spec, rng, users, items):
  """Users, items, timestamps of all impressions, in chronological order; new items only in the test period."""
  n = spec.num_impressions
  timestamps = np.sort(rng.integers(0, 30 * 86400, size=n))
  test_start = int(n * (1 - spec.test_fraction))
  u = rng.choice(spec.num_users, size=n, p=users["activity"] / users["activity"].sum())
  warm = np.flatnonzero(~items["is_cold"])
  cold = np.flatnonzero(items["is_cold"])
  pop = items["popularity"]
  i = rng.choice(warm, size=n, p=pop[warm] / pop[warm].sum())
  if len(cold):
    shows_cold = (np.arange(n) >= test_start) & (rng.random(n) < spec.cold_impression_share)
    i[shows_cold] = rng.choice(cold, size=shows_cold.sum(), p=pop[cold] / pop[cold].sum())
  return timestamps, u, i


def _choose_in_pools(rng, pools: List[np.ndarray], weights: np.ndarray, which: np.ndarray,
                     fallback: np.ndarray) -> np.ndarray:
  """For each entry of `which` (a pool index), an item drawn from that pool by `weights`; `fallback` for empty pools."""
  out = np.empty(len(which), dtype=np.int64)
  for k, pool in enumerate(pools):
    rows = np.flatnonzero(which == k)
    pool = pool if len(pool) else fallback
    out[rows] = rng.choice(pool, size=len(rows), p=weights[pool] / weights[pool].sum())
  return out


def _sample_search(spec, rng, users, items):
  """Search sessions, flattened to impressions in chronological order: each session is a user's query and the
  `results_per_query` items shown for it. A query names a category (one of its nouns) and, in `query_style_share`
  of sessions, a style the user is drawn to (by their taste), in the warm items' taste words. `query_relevance` of
  results come from the query's category, the rest from anywhere; new items are shown only in the test period.

  Returns timestamps, users, items, session ids, the query texts and each row's query category and style (-1 =
  the query names none)."""
  k = spec.results_per_query
  sessions = spec.num_impressions // k
  timestamps = np.repeat(np.sort(rng.integers(0, 30 * 86400, size=sessions)), k)
  su = rng.choice(spec.num_users, size=sessions, p=users["activity"] / users["activity"].sum())
  categories, styles = list(text_bank.CATEGORIES), list(text_bank.TASTES)
  q_cat = rng.integers(len(categories), size=sessions)
  preference = np.exp(2.0 * users["taste"][su])
  cumulative = np.cumsum(preference / preference.sum(axis=1, keepdims=True), axis=1)
  q_style = np.minimum((cumulative < rng.random((sessions, 1))).sum(axis=1), len(styles) - 1)
  q_style[rng.random(sessions) >= spec.query_style_share] = -1
  queries = []
  for c, st in zip(q_cat.tolist(), q_style.tolist()):
    nouns = text_bank.CATEGORIES[categories[c]][0]
    noun = nouns[rng.integers(len(nouns))]
    queries.append(noun if st < 0 else f"{rng.choice(text_bank.TASTES[styles[st]])} {noun}")
  n = sessions * k
  row_cat, row_style = np.repeat(q_cat, k), np.repeat(q_style, k)
  relevant = rng.random(n) < spec.query_relevance
  warm, cold, pop = np.flatnonzero(~items["is_cold"]), np.flatnonzero(items["is_cold"]), items["popularity"]
  in_category = lambda pool: [pool[items["category_index"][pool] == c] for c in range(len(categories))]  # noqa: E731
  # Relevant results come from the query's category; the others from pool "len(categories)", i.e. anywhere.
  which = np.where(relevant, row_cat, len(categories))
  i = _choose_in_pools(rng, in_category(warm) + [warm], pop, which, warm)
  test_start = int(sessions * (1 - spec.test_fraction)) * k
  if len(cold):
    shows_cold = (np.arange(n) >= test_start) & (rng.random(n) < spec.cold_impression_share)
    i[shows_cold] = _choose_in_pools(rng, in_category(cold) + [cold], pop, which[shows_cold], cold)
  return (timestamps, np.repeat(su, k), i, np.repeat(np.arange(sessions), k), np.repeat(np.array(queries), k),
          row_cat, row_style)


def query_logits(spec, items, i, query_category, query_style) -> np.ndarray:
  """The search part of the click model: a result outside the query's category is rarely clicked, one in the style
  the query names more often."""
  off_category = items["category_index"][i] != query_category
  style_match = (query_style >= 0) & (items["style"][i] == query_style)
  return -spec.query_category_scale * off_category + spec.query_style_scale * style_match


def star_ratings(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """1-5 stars the user would give the item (explicit feedback, for `task=rating`): the planted click logit
  centred, plus noise, rounded and clipped; so ratings carry the same user, item and cross effects as clicks."""
  stars = 3.0 + 0.9 * (logits - logits.mean()) + rng.normal(0, 0.6, size=len(logits))
  return np.clip(np.rint(stars), 1, 5).astype(np.int64)


def _histories(u: np.ndarray, i: np.ndarray, clicks: np.ndarray, length: int) -> List[List[int]]:
  """For each impression (chronological), the item indices the same user clicked before it, most recent last."""
  past: Dict[int, List[int]] = {}
  out = []
  for uu, ii, c in zip(u.tolist(), i.tolist(), clicks.tolist()):
    h = past.setdefault(uu, [])
    out.append(h[-length:])
    if c:
      h.append(ii)
  return out


def generate(spec: ShopSpec) -> Dict[str, Dict[str, np.ndarray]]:
  """All clean impressions of the shop as raw columns per split (before dirty rows are injected)."""
  if spec.search and not 1 <= spec.results_per_query <= spec.num_impressions:
    raise UserError(f"data.shop.results_per_query={spec.results_per_query}: need 1..num_impressions")
  rng = np.random.default_rng(spec.seed)
  items = make_items(spec, rng)
  users = make_users(spec, rng)
  n_cat = len(text_bank.CATEGORIES)
  tables = dict(age_x_category=rng.normal(0, 0.7, size=(len(AGE_BUCKETS), n_cat)),
                gender_x_category=rng.normal(0, 0.5, size=(len(GENDERS), n_cat)),
                hour=np.sin(np.arange(24) / 24 * 2 * np.pi),
                log_price_mean=items["log_price"].mean(), log_price_std=items["log_price"].std())
  extra = {}
  if spec.search:
    ts, u, i, session, query, q_cat, q_style = _sample_search(spec, rng, users, items)
    extra = dict(session_id=session.astype(np.int64), query=query)
  else:
    ts, u, i = _sample_impressions(spec, rng, users, items)
  hour = (ts // 3600) % 24
  logits = click_logits(spec, users, items, u, i, hour, tables)
  if spec.search:
    logits = logits + query_logits(spec, items, i, q_cat, q_style)
  p = 1 / (1 + np.exp(-logits))
  clicks = (rng.random(len(p)) < p).astype(np.int64)
  hist = _histories(u, i, clicks, spec.history_length)
  # Its own random stream, so adding ratings left every other column of a shop as it was.
  rating = star_ratings(logits, np.random.default_rng([spec.seed, 2]))
  columns = dict(
      impression_id=np.arange(len(u), dtype=np.int64), timestamp=ts.astype(np.int64),
      user_id=users["user_id"][u], age_bucket=users["age_bucket"][u],
      gender=np.array(GENDERS)[users["gender_index"][u]], region=users["region"][u], device=users["device"][u],
      item_id=items["item_id"][i], category=items["category"][i], brand=items["brand"][i],
      price=items["price"][i], title=items["title"][i], description=items["description"][i],
      hour=hour.astype(np.int64), weekday=((ts // 86400) % 7).astype(np.int64),
      history=np.array([items["item_id"][h].tolist() for h in hist], dtype=object),
      label=clicks, p_true=p.astype(np.float32), rating=rating, **extra)
  n = len(u)
  # Split at whole search sessions (a session's results stay together); one row = one session without search.
  unit = spec.results_per_query if spec.search else 1
  cut = lambda fraction: int(n // unit * fraction) * unit  # noqa: E731
  bounds = [0, cut(1 - spec.test_fraction - spec.validation_fraction), cut(1 - spec.test_fraction), n]
  return {name: {k: v[bounds[s]:bounds[s + 1]] for k, v in columns.items()}
          for s, name in enumerate(SPLITS)}
