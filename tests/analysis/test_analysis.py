"""rec_jax.analysis reopens a finished run: the same metrics as results.json, embeddings from the model's own towers,
top-K without seen items, permutation importance, learning curves from metrics.jsonl."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from rec_jax import analysis

pytestmark = pytest.mark.xdist_group("trained_smoke_run")


@pytest.fixture(scope="module")
def run(trained_smoke_run):
  return analysis.load_run(trained_smoke_run, checkpoint="best")


def test_loaded_best_checkpoint_reproduces_the_final_metrics(run, trained_smoke_run):
  results = json.load(open(os.path.join(trained_smoke_run, "results.json")))
  assert run.step == results["evaluated_step"] and run.checkpoint == "best"
  metrics = analysis.evaluate(run, "test")
  for key in ("auc", "auc/cold", "logloss", "ndcg@10"):
    assert metrics[key] == pytest.approx(results["metrics"][key], abs=1e-6), key
  cold = analysis.evaluate(run, "test", slice="cold")
  assert cold["auc"] == pytest.approx(results["metrics"]["auc/cold"], abs=1e-6)
  assert cold["num_rows"] == results["metrics"]["num_rows/cold"]
  # The rows themselves: predictions over a slice are the full split's predictions of those rows.
  full = analysis.predict(run, run.split("test"))
  mask = run.split("test").rows.item_is_cold
  np.testing.assert_allclose(analysis.predict(run, analysis.slice_rows(run, "test", "cold")), full[mask], atol=1e-6)
  assert analysis.load_run(trained_smoke_run, checkpoint="latest").step == results["step"]


def test_item_and_user_embeddings_come_from_the_towers(run):
  text = analysis.item_embeddings(run, "text")
  cf = analysis.item_embeddings(run, "item")
  assert text.shape == (len(run.catalogue), run.config.model.embed_dim)
  assert cf.shape[0] == len(run.catalogue) and cf.shape[1] == run.config.model.cf_dim
  # Cold items are out of the id vocabulary: they share the OOV row of the CF table, but keep their own text.
  cold = np.flatnonzero(run.catalogue.rows.item_is_cold)
  assert len(cold) >= 2 and np.allclose(cf[cold], cf[cold[0]]) and not np.allclose(text[cold], text[cold[0]])
  table = np.asarray(run.params["cf"]["items"]["embedding"])
  np.testing.assert_allclose(cf, table[run.catalogue.rows.item_id], atol=1e-6)
  keys, users = analysis.user_embeddings(run, "train", "user")
  assert len(np.unique(keys)) == len(keys) == users.shape[0]
  with pytest.raises(KeyError, match="tower 'candidate'"):
    analysis.item_embeddings(run, "candidate")


def test_nearest_items_and_projection_by_brute_force():
  rng = np.random.default_rng(0)
  vectors = rng.normal(size=(30, 5))
  index, sims = analysis.nearest_items(vectors, 3, k=4)
  unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
  brute = sorted((float(unit[3] @ unit[j]), j) for j in range(30) if j != 3)[::-1][:4]
  assert list(index) == [j for _, j in brute] and np.allclose(sims, [s for s, _ in brute])
  points = analysis.project_2d(vectors)
  centred = vectors - vectors.mean(0)
  top = np.linalg.eigh(np.cov(centred.T))[0][-2:][::-1]   # variance along the first two principal axes
  assert np.allclose(points.var(axis=0, ddof=1), top)


def test_top_k_excludes_seen_items_and_ranks_by_score(run):
  test = run.split("test")
  key = int(test.rows.user_key[0])
  seen = set(test.seen.items(key))
  assert seen, "the user should have seen items in train"
  top = analysis.top_k(run, run.data.users[key], k=len(run.catalogue))
  assert not seen & set(top["items"].tolist())
  assert len(top["items"]) == len(run.catalogue) - len(seen) and np.all(np.diff(top["scores"]) <= 0)
  # The score of an item is the model's prediction for the user's last test row with that item in it.
  last = np.flatnonzero(test.rows.user_key == key)[-1]
  own_item = int(test.rows.item_key[last])
  if own_item in top["items"]:
    row_score = analysis.predict(run, analysis.select_rows(test, np.array([last])))[0]
    assert top["scores"][list(top["items"]).index(own_item)] == pytest.approx(row_score, abs=1e-5)
  assert len(analysis.top_k(run, key, k=len(run.catalogue), exclude_seen=False)["items"]) == len(run.catalogue)
  with pytest.raises(KeyError, match="no split"):
    analysis.top_k(run, "nobody")


def test_permutation_importance_shuffles_one_field(run):
  importance = analysis.permutation_importance(run, "test", fields=["price", "text", "hour"], seed=1)
  base = analysis.evaluate(run, "test")["auc"]
  test = run.split("test")
  price = test.rows.numeric["price"][np.random.default_rng(1).permutation(len(test))]
  rows = test.rows.replace(numeric={**test.rows.numeric, "price": price})
  shuffled = analysis.evaluate(run, arrays=dataclasses.replace(test, rows=rows))["auc"]
  assert importance["price"] == pytest.approx(base - shuffled)
  assert set(importance) == {"price", "text", "hour"}
  with pytest.raises(KeyError, match="fields"):
    analysis.permutation_importance(run, "test", fields=["nope"])


def test_learning_curves_and_bad_workdirs(run, tmp_path):
  curves = analysis.learning_curves(run.workdir)
  steps, auc = curves["auc"]
  lines = [json.loads(l) for l in open(os.path.join(run.workdir, "metrics.jsonl"))]
  assert list(steps) == [l["step"] for l in lines] and list(auc) == [l["auc"] for l in lines]
  assert "train/loss" in curves and "train/learning_rate" in curves
  with pytest.raises(FileNotFoundError, match="not a rec_jax workdir"):
    analysis.load_run(str(tmp_path))
  with pytest.raises(ValueError, match="checkpoint='middle'"):
    analysis.load_run(run.workdir, checkpoint="middle")
