"""The command line, exercised as a user runs it (subprocesses)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, env_extra=None):
  env = {**os.environ, **(env_extra or {})}
  return subprocess.run([sys.executable, "-m", "rec_jax.main", *args], cwd=ROOT, capture_output=True, text=True,
                        env=env, timeout=600)


def test_unknown_config_key_is_one_clear_error_naming_close_keys(tmp_path):
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={tmp_path}", "--config.train.learning_rat=0.1")
  assert r.returncode != 0
  assert "unknown config key 'train.learning_rat'" in r.stderr and "train.learning_rate" in r.stderr
  assert "Traceback" not in r.stderr


def test_unknown_preset_and_missing_config_file(tmp_path):
  r = _run("--config=configs/synthetic.py:tiny", f"--workdir={tmp_path}")
  assert r.returncode != 0 and "unknown preset" in r.stderr and "Traceback" not in r.stderr
  r = _run("--config=configs/nope.py", f"--workdir={tmp_path}")
  assert r.returncode != 0 and "does not exist" in r.stderr


def test_smoke_run_end_to_end_with_override(tmp_path, tfds_dir):
  workdir = tmp_path / "smoke"
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={workdir}", f"--config.data.data_dir={tfds_dir}",
           "--config.model.cross=fm", env_extra={"RECJAX_PROGRESS": "1"})
  assert r.returncode == 0, r.stderr[-3000:]
  assert "steps/s" in r.stderr and "ETA" in r.stderr
  # Progress bars (forced on: stderr is no terminal here) on reading the data, features, training and evaluation.
  for bar in ("read train:", "features:", "train: ", "eval: "):
    assert bar in r.stderr, bar
  assert "40/40" in r.stderr
  assert r.stdout.strip().splitlines()[-1] == (f"done: results in {workdir / 'results.json'}; data cache in "
                                               f"{tfds_dir}")
  config = json.load(open(workdir / "config.json"))
  assert config["model"]["cross"] == "fm"
  results = json.load(open(workdir / "results.json"))
  assert results["step"] == config["train"]["num_steps"]
  assert {"auc", "auc/warm", "auc/cold", "oracle_auc", "logloss", "ndcg@10"} <= set(results["metrics"])
  lines = [json.loads(l) for l in open(workdir / "metrics.jsonl")]
  assert [l["step"] for l in lines] == list(range(config["eval"]["every_steps"], config["train"]["num_steps"] + 1,
                                                   config["eval"]["every_steps"]))


def test_workdir_of_another_config_is_a_clear_error(tmp_path):
  from rec_jax.config.loader import load_config
  from rec_jax.workdir import RunFiles
  workdir = tmp_path / "run"
  RunFiles(str(workdir)).write_or_check_config(load_config(os.path.join(ROOT, "configs/synthetic.py:smoke,seed=5")))
  (workdir / "checkpoints" / "latest" / "20").mkdir(parents=True)   # It trained: its config is pinned.
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={workdir}")
  assert r.returncode != 0 and "different config (seed: 5 -> 0)" in r.stderr
  assert "Traceback" not in r.stderr


def test_real_data_errors_are_one_line_naming_the_file(tmp_path):
  r = _run("--config=configs/movielens_rating.py:smoke", f"--workdir={tmp_path / 'a'}",
           f"--config.data.path={tmp_path / 'nowhere'}", f"--config.data.data_dir={tmp_path / 'tfds'}")
  assert r.returncode != 0 and "data.path=" in r.stderr and "does not exist" in r.stderr
  assert "Traceback" not in r.stderr
  (tmp_path / "ml").mkdir()
  (tmp_path / "ml" / "u.data").write_text("1\t1\t5\t880000000\n")
  r = _run("--config=configs/movielens_rating.py:smoke", f"--workdir={tmp_path / 'b'}",
           f"--config.data.path={tmp_path / 'ml'}", f"--config.data.data_dir={tmp_path / 'tfds'}")
  assert r.returncode != 0 and "movielens ml-100k: expected 'u.user' in" in r.stderr
  assert "Traceback" not in r.stderr



def test_an_unknown_option_of_a_cross_is_one_line_naming_the_option(tmp_path):
  # The options of every cross are in the base config: a typo in one is caught before anything runs.
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={tmp_path / 'typo'}",
           "--config.model.cross_options.low_rnak=8")
  assert r.returncode != 0 and "Traceback" not in r.stderr
  assert "unknown config key 'model.cross_options.low_rnak': did you mean model.cross_options.low_rank" in r.stderr


# Options of the chosen cross and history encoder (tests/launch/test_sweep.py: a sweep file gives the same flags).
OPTION_OVERRIDES = ("--config.model.cross=dcnv2", "--config.model.cross_options.low_rank=8",
                    "--config.model.cross_options.structure=stacked", "--config.model.history=sasrec",
                    "--config.model.history_options.num_heads=2")


def test_options_of_the_chosen_cross_and_history_encoder_from_the_command_line(tmp_path, tfds_dir):
  import ml_collections  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from rec_jax.data.features import FeatureOptions, FeatureProcessor  # pylint: disable=import-outside-toplevel
  from rec_jax.experiment import build_model  # pylint: disable=import-outside-toplevel
  from rec_jax.models.crosses.dcnv2 import LowRankMixtureCrossLayer, StackedCrossNetV2  # pylint: disable=import-outside-toplevel
  from rec_jax.text.frozen import count_parameters  # pylint: disable=import-outside-toplevel
  workdir = tmp_path / "options"
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={workdir}", f"--config.data.data_dir={tfds_dir}",
           *OPTION_OVERRIDES, "--config.train.num_steps=2", "--config.eval.every_steps=2",
           "--config.checkpoint.every_steps=2", "--config.model.use_text=False")   # (compiling BERT: half the time)
  assert r.returncode == 0, r.stderr[-3000:]
  config = json.load(open(workdir / "config.json"))
  cross, history = config["model"]["cross_options"], config["model"]["history_options"]
  assert cross["low_rank"] == 8 and cross["structure"] == "stacked" and cross["num_experts"] == 4
  assert history["num_heads"] == 2 and history["num_layers"] == 2 and history["max_length"] == 6
  # The model config.json describes (built abstractly: no data read, nothing compiled) is the one that trained.
  saved = ml_collections.ConfigDict(config)
  features = FeatureOptions.from_config(saved.features)
  vocab_sizes = FeatureProcessor.load(str(workdir / "feature_processor.json"), features).vocab_sizes()
  model = nnx.eval_shape(lambda: build_model(saved.model, features, vocab_sizes, rngs=nnx.Rngs(0)))
  assert isinstance(model.cross, StackedCrossNetV2)
  assert all(isinstance(layer, LowRankMixtureCrossLayer) and layer.u.shape[-1] == 8
             for layer in model.cross.cross.layers)
  assert model.cf.history.blocks[0].attention.num_heads == 2
  results = json.load(open(workdir / "results.json"))
  assert results["parameters"]["trainable"] == count_parameters(nnx.state(model, nnx.Param))
