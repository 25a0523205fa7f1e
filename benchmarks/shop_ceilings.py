r"""What a well-specified linear model reaches on the synthetic shop: reference points for the hybrid's test AUC.

  python benchmarks/shop_ceilings.py [--num_impressions=300000]

Regenerates the default shop's clean impressions (same seed and draws as the TFDS builder, before dirty rows) and
fits scikit-learn logistic regressions on the chronological 80 % train split, scoring the last 10 %:
  - `style`: one-hot crosses of the planted effects, with each item's latent style given (the model never sees it),
  - `text words`: the same, but region x every word of the item text instead of region x style (what a perfect
    linear text model could use),
  - `no text`: region alone instead of any text cross,
each with and without item-id one-hots (unknown for new items). Prints one line per fit and ends with
`oracle=<a> style_ceiling=<b> text_ceiling=<c>`.
"""

import argparse
import re

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from rec_jax.data.synthetic_shop import world
from rec_jax.evaluation.metrics import auc


def _onehot(code: np.ndarray, size: int) -> sp.csr_matrix:
  return sp.csr_matrix((np.ones(len(code)), (np.arange(len(code)), code)), shape=(len(code), size))


def _shop(spec: world.ShopSpec):
  """The generator's own draws, in its order (see world.generate), plus the planted logits and clicks."""
  rng = np.random.default_rng(spec.seed)
  items, users = world.make_items(spec, rng), world.make_users(spec, rng)
  n_cat = len(world.text_bank.CATEGORIES)
  tables = dict(age_x_category=rng.normal(0, 0.7, size=(len(world.AGE_BUCKETS), n_cat)),
                gender_x_category=rng.normal(0, 0.5, size=(len(world.GENDERS), n_cat)),
                hour=np.sin(np.arange(24) / 24 * 2 * np.pi),
                log_price_mean=items["log_price"].mean(), log_price_std=items["log_price"].std())
  ts, u, i = world._sample_impressions(spec, rng, users, items)  # pylint: disable=protected-access
  hour = (ts // 3600) % 24
  logits = world.click_logits(spec, users, items, u, i, hour, tables)
  clicks = (rng.random(len(logits)) < 1 / (1 + np.exp(-logits))).astype(int)
  return items, users, u, i, hour, logits, clicks


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_impressions", type=int, default=world.ShopSpec.num_impressions)
  args = parser.parse_args()
  spec = world.ShopSpec(num_impressions=args.num_impressions)
  items, users, u, i, hour, logits, y = _shop(spec)
  n = len(y)
  train, test = slice(0, int(n * 0.8)), slice(int(n * (1 - spec.test_fraction)), None)
  cold = items["is_cold"][i][test]
  region = np.array([int(r[1:]) for r in users["region"]])[u]
  device = np.array([world.DEVICES.index(d) for d in users["device"]])[u]
  age, gender, category = users["age_index"][u], users["gender_index"][u], items["category_index"][i]
  price = ((items["log_price"] - items["log_price"].mean()) / items["log_price"].std())[i]
  n_cat, n_sty = len(world.text_bank.CATEGORIES), len(world.text_bank.TASTES)
  base = [_onehot(age * n_cat + category, len(world.AGE_BUCKETS) * n_cat),
          _onehot(gender * n_cat + category, len(world.GENDERS) * n_cat),
          _onehot(age * 3 + device, len(world.AGE_BUCKETS) * 3).multiply(price[:, None]).tocsr(),
          sp.csr_matrix(price[:, None]), _onehot(hour, 24), _onehot(region, spec.num_regions)]
  texts = [f"{t} {d}".lower() for t, d in zip(items["title"], items["description"])]
  vocab = {w: k for k, w in enumerate(sorted({w for t in texts for w in re.findall(r"[a-z]+", t)}))}
  rows, cols = zip(*[(k, vocab[w]) for k, t in enumerate(texts) for w in set(re.findall(r"[a-z]+", t))])
  words = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab)))[i]
  regions = _onehot(region, spec.num_regions)
  crosses = {
      "style": [_onehot(region * n_sty + items["style"][i], spec.num_regions * n_sty)],
      "text words": [words] + [words.multiply(regions[:, [r]]) for r in range(spec.num_regions)],
      "no text": [],
  }
  item_ids = _onehot(np.where(items["is_cold"][i], 0, i), spec.num_items)
  best = {}
  for name, blocks in crosses.items():
    for with_ids in (False, True):
      x = sp.hstack(base + blocks + ([item_ids] if with_ids else [])).tocsr()
      model = LogisticRegression(C=0.1, max_iter=3000).fit(x[train], y[train])
      s = model.decision_function(x[test])
      a = auc(y[test], s)
      best[name] = max(best.get(name, 0.0), a)
      print(f"{name:10s} item ids {str(with_ids):5s}  auc {a:.4f}  warm {auc(y[test][~cold], s[~cold]):.4f}  "
            f"cold {auc(y[test][cold], s[cold]):.4f}")
  print(f"oracle={auc(y[test], logits[test]):.4f} style_ceiling={best['style']:.4f} "
        f"text_ceiling={best['text words']:.4f}")


if __name__ == "__main__":
  main()
