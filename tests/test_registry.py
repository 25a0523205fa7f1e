"""Module-path registries: a config string is a module of the registry's package (or a dotted module path); the
package's entries are the modules that define the entry attribute; unknown names suggest the valid ones."""

from __future__ import annotations

import pytest

from rec_jax.data.datasets import DATASETS
from rec_jax.models.crosses import CROSSES
from rec_jax.models.history import HISTORY
from rec_jax.models.zoo import MODELS
from rec_jax.tasks import TASKS


def test_each_registry_lists_its_entries_and_not_its_helper_modules():
  assert list(TASKS) == ["ctr", "next_item", "rating", "retrieval", "search"]   # not task, clicked_rows, losses
  assert list(MODELS) == ["hybrid", "mf", "neumf", "popularity", "sequential", "two_tower"]
  assert list(HISTORY) == ["bert4rec", "din", "mean", "sasrec"]
  assert "dcnv2" in CROSSES and "deepfm" in CROSSES and len(list(CROSSES)) == 9
  assert list(DATASETS) == ["amazon_reviews", "criteo", "movielens", "recbole_atomic", "sequence_txt",
                            "synthetic_shop", "user_sequences"]


def test_unknown_names_and_helper_modules_are_named_errors():
  with pytest.raises(KeyError, match=r"unknown task 'ctrr'; did you mean 'ctr'\?.*Valid: ctr, next_item"):
    TASKS.get("ctrr")
  with pytest.raises(KeyError, match="module rec_jax.tasks.clicked_rows defines no TASK"):
    TASKS.get("clicked_rows")
  with pytest.raises(KeyError, match="unknown model 'no such'"):
    MODELS.get("no such")
  assert TASKS.get("ctr").TASK.metrics.best == "auc"
