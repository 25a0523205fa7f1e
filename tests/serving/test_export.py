"""rec_jax.export: the exported programs give what the in-process model gives on the same rows (to 1e-6), a new
item's vector from its text and attributes equals what training-time code computes, and loading an export needs
none of the training code."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rec_jax.analysis.loaded_run import load_run
from rec_jax.analysis.scoring import predict
from rec_jax.batch import FeatureArrays, Texts, TextTables
from rec_jax.data.vocab import IntVocabulary
from rec_jax.errors import UserError
from rec_jax.evaluation.pointwise import predict_split
from rec_jax.models.options import ModelOptions
from rec_jax.serving.bundle import Bundle
from rec_jax.serving.item_store import ItemStore
from rec_jax.serving.request_features import RequestFeatures
from rec_jax.text.cache import cache_texts
from rec_jax.text.inputs import text_input

pytestmark = pytest.mark.xdist_group("trained_smoke_run")


def test_ctr_score_equals_the_in_process_model(ctr_export):
  workdir, out = ctr_export
  run, bundle = load_run(workdir), Bundle(out)
  test = run.split("test")
  exported = bundle.function("score")(bundle.rows_inputs(test.rows, test.texts, "score"))
  np.testing.assert_allclose(exported, predict(run, test), atol=1e-6, rtol=0)
  manifest = bundle.manifest
  assert manifest["task"] == "ctr" and manifest["step"] == run.step and manifest["checkpoint"] == "best"
  assert manifest["metrics"] == run.results["metrics"]
  # The hybrid has no separate user and item towers; its text tower's vectors are computed once per item.
  assert set(manifest["functions"]) == {"score", "text_vectors"}
  assert manifest["signature"]["text"]["kind"] == "vectors"
  assert manifest["signature"]["item_text"]["kind"] == "tokens"
  assert {"jax", "flax", "numpy"} <= set(manifest["versions"])


def test_towers_and_the_text_encoder_equal_the_in_process_model(two_tower_export):
  workdir, out = two_tower_export
  run, bundle = load_run(workdir), Bundle(out)
  assert set(bundle.manifest["functions"]) == {"query", "candidate", "text_vectors", "text_form.text"}
  assert bundle.signature.item_text.kind == "pooled"
  test, catalogue = run.split("test"), run.catalogue
  size = run.config.eval.batch_size
  query = bundle.function("query")(bundle.rows_inputs(test.rows, test.texts, "query"))
  np.testing.assert_allclose(query, predict_split(run.bound("query_vectors"), test, size), atol=1e-6, rtol=0)
  candidate = bundle.function("candidate")(bundle.rows_inputs(catalogue.rows, catalogue.texts, "candidate"))
  np.testing.assert_allclose(candidate, predict_split(run.bound("candidate_vectors"), catalogue, size), atol=1e-6,
                             rtol=0)
  # Symbolic batch: any number of rows, padded to a size class and cut back.
  for rows in (1, 3, 17):
    part = {k: v[:rows] for k, v in bundle.rows_inputs(test.rows, test.texts, "query").items()}
    np.testing.assert_allclose(bundle.function("query")(part), query[:rows], atol=1e-6, rtol=0)


def test_a_new_items_vector_equals_training_time_code(two_tower_export):
  """An item added from its raw columns: the processor, tokenizer, frozen encoder and item tower of training-time
  code (processor.transform -> the text cache's encoder -> model.candidate_vectors) give the same vector."""
  workdir, out = two_tower_export
  run, bundle = load_run(workdir), Bundle(out)
  cfg = run.processor.cfg
  new = {"item": "never-seen-item", "title": "waterproof trail running shoes", "description": "light and grippy",
         "category": str(run.catalogue.raw["category"][3]), "brand": "a-brand-nobody-knows", "price": 42.5}
  store = ItemStore(bundle, RequestFeatures(bundle.processor))
  (added,) = store.upsert([new], ["item"])
  assert added["new"] and added["row"] == len(run.catalogue)
  served = store.index.rows([added["row"]])[0]

  # Training-time code: the columns through the fitted processor, the text through the run's frozen encoder.
  columns = {name: np.asarray([value]) for name, value in new.items() if name != "item"}
  columns[cfg.item_id] = np.asarray([new["item"]])
  columns[cfg.user_id] = np.asarray(["someone"])
  columns[cfg.label] = np.asarray([0.0])
  columns[cfg.history] = np.empty(1, object)
  columns[cfg.history][0] = []
  for name in cfg.categorical:   # the user and context columns, which the item tower does not read
    integer = isinstance(run.processor.vocabs[name], IntVocabulary)
    columns.setdefault(name, np.asarray([0]) if integer else np.asarray(["?"]))
  arrays = run.processor.transform(columns)
  assert arrays.rows.item_id[0] == 1 and arrays.rows.item_is_cold[0]   # OOV, as every cold item
  options = ModelOptions.from_model_section(run.config.model)
  spec = text_input(options.text, cfg.tokenizer, cfg.text_max_length, run.data.vocab_sizes()["text"])
  cached, _ = cache_texts(spec, options.text, workdir, {"new": arrays}, run.model.text_encoders(), run.config.seed)
  reference = predict_split(run.bound("candidate_vectors"), cached["new"], run.config.eval.batch_size)[0]
  np.testing.assert_allclose(served, reference, atol=1e-6, rtol=0)


def test_loading_an_export_runs_no_training_code(two_tower_export):
  _, out = two_tower_export
  code = ("import sys; from rec_jax.serving.bundle import Bundle; from rec_jax.serving.service import Service; "
          f"s = Service(Bundle({out!r})); "
          "bad = [m for m in ('rec_jax.experiment', 'rec_jax.train', 'rec_jax.analysis', 'rec_jax.config.loader', "
          "'rec_jax.models', 'rec_jax.text.bert', 'rec_jax.checkpoint', 'orbax') if m in sys.modules]; print(bad)")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "XLA_FLAGS": ""})
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().splitlines()[-1] == "[]"


def test_export_command_and_its_errors(ctr_export, tmp_path):
  workdir, _ = ctr_export
  from rec_jax import export
  out = str(tmp_path / "exp")
  assert export.main(["--workdir", workdir, "--out", out, "--checkpoint", "latest"]) == 0
  with open(os.path.join(out, "manifest.json")) as f:
    assert json.load(f)["checkpoint"] == "latest"
  assert export.main(["--workdir", workdir, "--out", out]) == 0   # an export is replaced
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "notes.txt").write_text("mine")
  assert export.main(["--workdir", workdir, "--out", str(taken)]) == 1
  assert (taken / "notes.txt").read_text() == "mine"
  assert export.main(["--workdir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 1
  with pytest.raises(UserError, match="not a rec_jax export"):
    Bundle(str(taken))


def test_a_text_tower_over_cached_hidden_states(hidden_text_export):
  """Frozen bottom blocks (cached hidden states in training): the export runs them from tokens for new texts;
  scores equal the in-process model's, and a new item's text vector equals the training-time cache + tower's."""
  workdir, out = hidden_text_export
  run, bundle = load_run(workdir), Bundle(out)
  assert bundle.signature.item_text.kind == "hidden"
  assert set(bundle.manifest["functions"]) == {"score", "text_vectors", "text_form.text"}
  test = run.split("test")
  np.testing.assert_allclose(bundle.function("score")(bundle.rows_inputs(test.rows, test.texts, "score")),
                             predict(run, test), atol=1e-6, rtol=0)
  item = {"item": "new", "title": "a brand new kettle", "description": "boils water fast",
          "category": str(run.catalogue.raw["category"][0]), "brand": "nobody", "price": 10.0}
  served = ItemStore(bundle, RequestFeatures(bundle.processor)).encode([item], ["item"])["text.vectors"][0]
  cfg = run.processor.cfg
  ids, mask, types = run.processor.tokenizer.encode_pairs([item["title"]], [item["description"]],
                                                           cfg.text_max_length)
  table = FeatureArrays(rows=None, texts=TextTables(text=Texts(ids=ids, mask=mask, types=types)))
  options = ModelOptions.from_model_section(run.config.model)
  spec = text_input(options.text, cfg.tokenizer, cfg.text_max_length, run.data.vocab_sizes()["text"])
  cached, _ = cache_texts(spec, options.text, workdir, {"new": table}, run.model.text_encoders(), run.config.seed)
  reference = np.asarray(run.model.text.encode(cached["new"].texts.text))[0]
  np.testing.assert_allclose(served, reference, atol=1e-5, rtol=0)
