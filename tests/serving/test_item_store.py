"""Items added or updated at serve time: journaled and replayed after a restart with the same rows and vectors; a
damaged journal is one error naming its line; a bad item in a change rejects the whole change."""

import numpy as np
import pytest

from rec_jax.errors import UserError
from rec_jax.serving.bundle import Bundle
from rec_jax.serving.item_store import ItemStore
from rec_jax.serving.request_features import RequestError, RequestFeatures

pytestmark = pytest.mark.xdist_group("trained_smoke_run")


def _item(bundle, name, row=0, **changes):
  raw = {k[len("raw/"):]: v for k, v in bundle.items.items() if k.startswith("raw/")}
  item = {"item": name, "title": str(raw["title"][row]), "description": str(raw["description"][row]),
          "category": str(raw["category"][row]), "brand": str(raw["brand"][row]), "price": float(raw["price"][row])}
  return {**item, **changes}


def test_journal_replays_items_after_a_restart(two_tower_export, tmp_path):
  _, out = two_tower_export
  bundle = Bundle(out)
  journal = str(tmp_path / "items.jsonl")
  store = ItemStore(bundle, RequestFeatures(bundle.processor), journal)
  known = str(bundle.items["ids"][5])
  first = store.upsert([_item(bundle, "new-a", 1), _item(bundle, "new-b", 2)], ["a", "b"])
  second = store.upsert([_item(bundle, known, 3, title="a renamed item")], ["c"])
  assert [r["new"] for r in first + second] == [True, True, False]
  with pytest.raises(RequestError, match="price"):   # one bad item: the change is rejected whole
    store.upsert([_item(bundle, "new-c", 4), _item(bundle, "new-d", 4, price="cheap")], ["d", "e"])
  assert "new-c" not in store.rows
  rows = [store.rows[i] for i in ("new-a", "new-b", known)]
  vectors = store.index.rows(rows)

  again = ItemStore(bundle, RequestFeatures(bundle.processor), journal)
  assert len(again) == len(store) and again.ids == store.ids and again.added == 2
  np.testing.assert_array_equal(again.index.rows(rows), vectors)
  fresh = ItemStore(bundle, RequestFeatures(bundle.processor))   # without the journal: the export's items
  assert len(fresh) == len(bundle.items["ids"])
  assert not np.array_equal(fresh.index.rows([rows[2]]), vectors[2:])   # the renamed item's text changed it

  with open(journal, "a") as f:
    f.write("{not json\n")
  with pytest.raises(UserError, match="items.jsonl line 3"):
    ItemStore(bundle, RequestFeatures(bundle.processor), journal)
