import numpy as np
import pytest

from rec_jax.data import governance
from rec_jax.data.governance import FieldRule, Schema
from rec_jax.data.synthetic_shop import dirt, schema as shop_schema, world

SCHEMA = Schema(dedup_key="id", rules=(
    FieldRule("user", "id", pattern=r"u\d+"),
    FieldRule("label", "label", allowed=(0, 1)),
    FieldRule("price", "number", on_missing="impute", low=0.0, clip_quantile=0.75),
    FieldRule("device", "category", on_missing="impute", fill="unknown"),
    FieldRule("hour", "integer", low=0, high=23, on_invalid="clip"),
    FieldRule("history", "id_list", pattern=r"i\d+"),
))


def _columns():
  hist = np.empty(6, dtype=object)
  hist[:] = [["i1"], ["i2", "bad"], [], ["i3"], [""], ["i4"]]
  return dict(
      id=np.array([1, 2, 2, 3, 4, 5]),
      user=np.array(["u1", "u2", "u2", "", "u4", "u5"], dtype=object),
      label=np.array([0, 1, 1, 1, 2, 0]),
      price=np.array([10.0, np.nan, np.nan, 30.0, 40.0, 1000.0]),
      device=np.array(["mobile", "", "", "desktop", "tablet", "mobile"], dtype=object),
      hour=np.array([1, 25, 25, 3, 4, -1]),
      history=hist)


def test_each_row_is_kept_or_dropped_for_one_reason():
  cols = _columns()
  fills = governance.fit_fills(SCHEMA, cols)
  kept, report = governance.clean(SCHEMA, cols, fills)
  assert report["rows_read"] == 6 == report["rows_kept"] + report["rows_dropped"]
  assert report["dropped"] == {"duplicate": 1, "missing:user": 1, "invalid:label": 1}
  assert list(kept["id"]) == [1, 2, 5]
  # NaN price imputed with the median of valid prices (10, 30, 40, 1000 -> 35); device imputed.
  assert kept["price"][1] == pytest.approx(35.0)
  assert kept["device"][1] == "unknown"
  assert report["imputed"] == {"price": 1, "device": 1, "history": 1}
  # Hours out of range are clipped, prices above the train 75% quantile capped.
  assert list(kept["hour"]) == [1, 23, 0]
  assert kept["price"][2] == pytest.approx(np.quantile([10.0, 30.0, 40.0, 1000.0], 0.75))
  assert report["clipped"] == {"hour": 2, "price": 1}
  assert kept["history"][1] == ["i2"]


def test_fills_come_from_train_only():
  train = _columns()
  test = {k: v.copy() for k, v in train.items()}
  test["price"] = np.array([np.nan, 1e6, 1e6, 1e6, 1e6, 1e6])
  splits, report = governance.govern(SCHEMA, {"train": train, "test": test})
  assert report["fitted_on_train"]["price"]["median"] == pytest.approx(35.0)
  assert splits["test"]["price"][0] == pytest.approx(35.0)


def test_missing_schema_column_is_named():
  cols = _columns()
  del cols["device"]
  with pytest.raises(KeyError, match="device"):
    governance.clean(SCHEMA, cols, governance.fit_fills(SCHEMA, cols))


def test_synthetic_dirt_is_fully_accounted_for():
  spec = world.ShopSpec(num_users=100, num_items=60, num_impressions=5000, dirty_rate=0.05)
  clean = world.generate(spec)
  rng = np.random.default_rng(0)
  dirty = {s: dirt.inject(c, spec.dirty_rate, rng) for s, c in clean.items()}
  splits, report = governance.govern(shop_schema.SCHEMA, dirty)
  for name, r in report["splits"].items():
    assert r["rows_read"] == len(dirty[name]["label"]) == r["rows_kept"] + r["rows_dropped"]
    assert r["rows_dropped"] == sum(r["dropped"].values())
    assert r["rows_kept"] == len(splits[name]["label"])
  train = report["splits"]["train"]
  # Every injected kind shows up: duplicates, bad ids and labels and negative prices dropped, NaN prices imputed.
  assert {"duplicate", "invalid:label", "invalid:price"} <= set(train["dropped"])
  assert train["imputed"]["price"] > 0
  assert set(np.unique(splits["train"]["label"])) <= {0, 1}
  assert np.all(np.isfinite(splits["train"]["price"].astype(float))) and np.all(splits["train"]["price"] >= 0)
  # The clean rows of the original survive: kept + dropped duplicates == generated rows minus corrupted ones.
  assert train["rows_kept"] <= len(clean["train"]["label"])


def test_hex_categories_keep_missing_as_minus_one_counted_as_imputed():
  from rec_jax.data.formats.columns import governance_rule
  rule = governance_rule("C1", "hex")
  assert rule == FieldRule("C1", "hex", on_missing="impute", fill=-1)
  cols = dict(C1=np.array([0x68fd1e64, -1, 0, -1], dtype=np.int64), label=np.array([1, 0, 1, 0]))
  schema = Schema(rules=(rule, FieldRule("label", "label", allowed=(0, 1))))
  kept, report = governance.clean(schema, cols, governance.fit_fills(schema, cols))
  assert report["rows_kept"] == 4 and report["imputed"] == {"C1": 2} and report["dropped"] == {}
  assert kept["C1"].tolist() == [0x68fd1e64, -1, 0, -1] and kept["C1"].dtype == np.int64
