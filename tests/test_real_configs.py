"""The real-dataset configs train end to end on tiny files in each official layout (written by the tests), with
`--config.data.path` pointing at them, and report what their protocols promise."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rec_jax import train
from tests.preemption import preempt_after
from rec_jax.config.loader import load_config
from tests.data.datasets import movielens_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(name: str, preset: str, path, tfds_dir):
  cfg = load_config(os.path.join(ROOT, "configs", name) + ":" + preset)
  cfg.data.path = str(path)
  cfg.data.data_dir = tfds_dir
  return cfg


def test_movielens_rating_reports_the_mean_over_five_folds(tmp_path, tfds_dir):
  movielens_files.write_100k(str(tmp_path / "ml-100k"), num_users=40, per_user=20)
  cfg = _config("movielens_rating.py", "smoke", tmp_path / "ml-100k", tfds_dir)
  result = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  folds = result["folds"]
  assert list(folds) == ["u1", "u2", "u3", "u4", "u5"] and result["num_folds"] == 5
  for metric in ("rmse", "mae"):
    values = [folds[f][metric] for f in folds]
    assert result["metrics"][metric] == pytest.approx(np.mean(values))
    assert result["metrics_std"][metric] == pytest.approx(np.std(values, ddof=1))
  # Each fold tests on its own u<k>.test (a fifth of the 800 ratings) and is a complete run of its own.
  assert all(folds[f]["num_rows"] == 160 for f in folds)
  with open(tmp_path / "run" / "fold_u3" / "data_report.json") as f:
    assert json.load(f)["source"]["used_splits"] == ["u3_base", "u3_test"]
  # A finished k-fold run is not retrained.
  assert train.train_and_evaluate(cfg, str(tmp_path / "run")) == result


def test_movielens_rating_fold_resumes_exactly(tmp_path, tfds_dir):
  movielens_files.write_100k(str(tmp_path / "ml-100k"), num_users=40, per_user=20)
  cfg = _config("movielens_rating.py", "smoke", tmp_path / "ml-100k", tfds_dir)
  cfg.data.split.folds = ("u1", "u2")
  full = train.train_and_evaluate(cfg, str(tmp_path / "full"))
  assert preempt_after(cfg, str(tmp_path / "resumed"), 15) == 15
  assert train.train_and_evaluate(cfg, str(tmp_path / "resumed"))["metrics"] == full["metrics"]


@pytest.mark.parametrize("layout, preset", [("1m", "smoke"), ("csv", "csv,smoke,notext"), ("100k", "smoke,random")])
def test_movielens_ctr(layout, preset, tmp_path, tfds_dir):
  write = {"1m": movielens_files.write_1m, "csv": movielens_files.write_csv, "100k": movielens_files.write_100k}
  write[layout](str(tmp_path / "ml"), num_users=60, num_items=80, per_user=25)
  cfg = _config("movielens_ctr.py", preset, tmp_path / "ml", tfds_dir)
  result = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  m = result["metrics"]
  assert {"auc", "gauc", "logloss", "ndcg@10", "auc/warm", "auc/cold"} <= set(m) and np.isfinite(m["auc"])
  # 5 % of the 80 movies are held out of training entirely: their test rows are the cold slice.
  assert m["num_rows/cold"] > 0
  with open(tmp_path / "run" / "data_report.json") as f:
    report = json.load(f)
  assert report["source"]["splits"]["full"]["rows_read"] == 60 * 25
  assert sum(s["rows_read"] for s in report["splits"].values()) == 60 * 25


def _sequences(num_users=40, num_items=30, length=12, seed=0):
  """Each user walks the item ring with random steps of 1-2: the next item is predictable from the last."""
  rng = np.random.default_rng(seed)
  out = {}
  for u in range(1, num_users + 1):
    item, seq = int(rng.integers(1, num_items + 1)), []
    for _ in range(length):
      seq.append(item)
      item = (item + int(rng.integers(1, 3)) - 1) % num_items + 1
    out[u] = seq
  return out


def write_sasrec_txt(path, **kw):
  with open(path, "w") as f:
    for u, seq in _sequences(**kw).items():
      f.writelines(f"{u} {i}\n" for i in seq)


def write_unisrec(root, name="Toy", num_items=30, **kw):
  """UniSRec's layout: leave-one-out sequences in .train/.valid/.test.inter (training rows: every prefix) and the
  item texts in .text; items above 24 never occur in training (new items, described by their text only)."""
  seqs = _sequences(num_items=num_items, **kw)
  os.makedirs(root, exist_ok=True)
  header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
  files = {s: open(os.path.join(root, f"{name}.{s}.inter"), "w") for s in ("train", "valid", "test")}
  for f in files.values():
    f.write(header)
  for u, seq in seqs.items():
    seq = [i if i <= 24 or k >= len(seq) - 2 else 1 + i % 24 for k, i in enumerate(seq)]
    for k in range(1, len(seq) - 2):
      files["train"].write(f"{u}\t{' '.join(map(str, seq[:k]))}\t{seq[k]}\n")
    files["valid"].write(f"{u}\t{' '.join(map(str, seq[:-2]))}\t{seq[-2]}\n")
    files["test"].write(f"{u}\t{' '.join(map(str, seq[:-1]))}\t{seq[-1]}\n")
  for f in files.values():
    f.close()
  colours = ("red", "blue", "green", "black", "white", "grey")
  with open(os.path.join(root, f"{name}.text"), "w") as f:
    f.write("item_id:token\ttext:token_seq\n")
    f.writelines(f"{i}\t{colours[i % 6]} item number {i} for the {('lab', 'field', 'office')[i % 3]}\n"
                 for i in range(1, num_items + 1))
  return root


@pytest.mark.parametrize("preset", ["smoke", "smoke,full"])
def test_sasrec_format_protocol(preset, tmp_path, tfds_dir):
  write_sasrec_txt(tmp_path / "toy.txt")
  cfg = _config("sasrec_format.py", preset, tmp_path / "toy.txt", tfds_dir)
  result = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  m = result["metrics"]
  # Leave-one-out: one test query per user (all 40 have 12 items).
  assert m["num_queries"] == 40 and {"hit@10", "ndcg@10", "hit@1", "mrr@5"} <= set(m)
  assert 0 <= m["ndcg@10"] <= m["hit@10"] <= 1
  if preset == "smoke":
    # The test item against 10 negatives: 11 candidates, drawn once and saved.
    assert m["num_candidates"] == 11 and m["hit@10"] >= m["hit@5"]
    with np.load(tmp_path / "run" / "eval_negatives" / "test.npz") as saved:
      assert saved["negatives"].shape == (40, 10)
  else:
    assert m["num_candidates"] == 30


def test_sampled_negatives_are_the_same_for_every_model(tmp_path, tfds_dir):
  from rec_jax.experiment import build_experiment  # pylint: disable=import-outside-toplevel
  write_sasrec_txt(tmp_path / "toy.txt")
  drawn = []
  for preset in ("smoke", "smoke,bert4rec,seed=3"):
    cfg = _config("sasrec_format.py", preset, tmp_path / "toy.txt", tfds_dir)
    os.makedirs(tmp_path / preset)
    drawn.append(build_experiment(cfg, str(tmp_path / preset)).data.splits["test"].negatives)
  # Another model and seed, the same candidates; a preparation in the same workdir reloads the saved ones.
  np.testing.assert_array_equal(drawn[0], drawn[1])
  again = build_experiment(_config("sasrec_format.py", "smoke", tmp_path / "toy.txt", tfds_dir),
                           str(tmp_path / "smoke")).data
  np.testing.assert_array_equal(again.splits["test"].negatives, drawn[0])


def test_amazon_text_seq_reports_the_cold_slice(tmp_path, tfds_dir):
  root = write_unisrec(str(tmp_path / "Toy"))
  cfg = _config("amazon_text_seq.py", "smoke", root, tfds_dir)
  cfg.train.num_steps = cfg.eval.every_steps = cfg.checkpoint.every_steps = 10
  result = train.train_and_evaluate(cfg, str(tmp_path / "run"))
  m = result["metrics"]
  assert {"hit@10", "recall@10", "ndcg@50", "mrr@10", "hit@10/cold", "ndcg@10/warm"} <= set(m)
  # Every item of every split is a candidate: those of the 30 that occur at all.
  assert m["num_queries"] == 40 and m["num_queries/cold"] > 0 and 20 < m["num_candidates"] <= 30
  # The default: SASRec over id + text item vectors, trained on whole packed sequences.
  assert cfg.model.name == "sequential" and cfg.model.use_text and result["training"]["unit"] == "sequence"
  ids = _config("amazon_text_seq.py", "smoke,ids", root, tfds_dir)
  ids.train.num_steps = ids.eval.every_steps = ids.checkpoint.every_steps = 10
  m_ids = train.train_and_evaluate(ids, str(tmp_path / "ids"))["metrics"]
  # The id-only baseline (SASRec, next_item) is evaluated on the same queries and catalogue.
  assert m_ids["num_queries/cold"] == m["num_queries/cold"] and m_ids["num_candidates"] == m["num_candidates"]
  assert 0 <= m_ids["ndcg@10/cold"] <= m_ids["hit@10/cold"] <= 1
