"""The reliability corpus, workdirs and checkpoints: a workdir that is a file, locked, damaged or holding another
run; damaged checkpoints; changed data under a resumed run; a diverging run. Each case asserts its exact outcome:
one `error:` line naming the problem, or a resumed run whose results equal the uninterrupted run's."""

import fcntl
import json
import os
import shutil

import numpy as np
import pytest

from rec_jax import train
from rec_jax.errors import UserError
from rec_jax.main import invoke
from rec_jax.workdir import RunFiles, WorkdirLock
from tests.data.datasets import movielens_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE = "--config=configs/synthetic.py:smoke"
TIMING = ("wall_time_s", "train_seconds", "eval_seconds", "final_eval_seconds", "train_steps_per_s")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
  monkeypatch.chdir(ROOT)


def _smoke(workdir, tfds_dir, *overrides):
  return invoke([SMOKE, f"--workdir={workdir}", f"--config.data.data_dir={tfds_dir}",
                 *(f"--config.{o}" for o in overrides)])


def _results(workdir) -> dict:
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  return {k: v for k, v in results.items() if k not in TIMING}


# --- the workdir itself ---------------------------------------------------------------------------------------------

def test_workdir_is_a_file(tmp_path, tfds_dir):
  (tmp_path / "file").write_text("")
  assert _smoke(tmp_path / "file", tfds_dir) == (
      1, f"error: the workdir {tmp_path / 'file'} is a file, not a directory; use another --workdir")


def test_workdir_under_a_file(tmp_path, tfds_dir):
  (tmp_path / "file").write_text("")
  assert _smoke(tmp_path / "file" / "run", tfds_dir) == (1, f"error: Not a directory: '{tmp_path / 'file' / 'run'}'")


def test_workdir_not_writable(tfds_dir):
  # /sys refuses a new directory even to root (the tests may run as root, where chmod would not).
  assert _smoke("/sys/rec_jax_run", tfds_dir) == (1, "error: Operation not permitted: '/sys/rec_jax_run'")


def test_data_dir_is_a_file(tmp_path):
  (tmp_path / "file").write_text("")
  assert invoke([SMOKE, f"--workdir={tmp_path / 'run'}", f"--config.data.data_dir={tmp_path / 'file'}"]) == (
      1, f"error: data.data_dir='{tmp_path / 'file'}' is a file, not a directory")


def test_a_second_process_on_a_workdir_is_refused_naming_the_holder(tmp_path, tfds_dir):
  workdir = tmp_path / "run"
  workdir.mkdir()
  with WorkdirLock(str(workdir)):
    code, line = _smoke(workdir, tfds_dir)
  assert (code, line) == (1, f"error: {workdir} is in use by another rec_jax process (pid {os.getpid()}); wait "
                             "for it to finish, stop it, or use another --workdir")
  assert not (workdir / "config.json").exists()
  # Released with its holder: the lock file left behind does not block the next process.
  with WorkdirLock(str(workdir)):
    pass


def test_a_lock_held_by_another_process(tmp_path):
  import subprocess
  import sys
  workdir = tmp_path / "run"
  workdir.mkdir()
  holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from rec_jax.workdir import WorkdirLock\n"
                             f"with WorkdirLock({str(workdir)!r}):\n  print('held', flush=True); time.sleep(60)"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ValueError, match=f"in use by another rec_jax process \\(pid {holder.pid}\\)"):
      WorkdirLock(str(workdir)).__enter__()
  finally:
    holder.kill()
    holder.wait()
  with WorkdirLock(str(workdir)):   # A killed holder's lock is gone with it.
    pass


def test_another_config_on_a_trained_workdir_is_refused(tmp_path, tfds_dir, smoke_config):
  workdir = tmp_path / "run"
  RunFiles(str(workdir)).write_or_check_config(train.resolve_config(smoke_config))
  (workdir / "checkpoints" / "latest" / "20").mkdir(parents=True)
  code, line = _smoke(workdir, tfds_dir, "train.learning_rate=0.5")
  assert code == 1 and line == (f"error: {workdir} holds a run with a different config (train.learning_rate: "
                                "0.01 -> 0.5); use a new --workdir or the same config to resume")


def test_a_run_that_failed_before_its_first_checkpoint_does_not_pin_its_config(tmp_path, tfds_dir):
  workdir = tmp_path / "run"
  code, line = _smoke(workdir, tfds_dir, "features.query=nope")
  assert code == 1 and "features.query='nope': not a column of the data" in line
  assert json.load(open(workdir / "config.json"))["features"]["query"] == "nope"
  # The corrected command is taken (its config replaces the failed one) and fails on its own problem only.
  code, line = _smoke(workdir, tfds_dir, "features.categorical=('nope',)")
  assert code == 1 and line.startswith("error: features.categorical='nope': not a column"), line
  assert json.load(open(workdir / "config.json"))["features"]["query"] == ""


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"], ids=["truncated", "not-an-object", "binary"])
def test_damaged_config_json(content, tmp_path, tfds_dir, smoke_config):
  trained, untrained = tmp_path / "trained", tmp_path / "untrained"
  for workdir in (trained, untrained):
    workdir.mkdir()
    (workdir / "config.json").write_text(content, encoding="latin-1")
  (trained / "checkpoints" / "latest" / "20").mkdir(parents=True)
  code, line = _smoke(trained, tfds_dir)
  assert code == 1 and line.startswith(f"error: {trained / 'config.json'} ") and "use a new --workdir" in line, line
  # Untrained: nothing to lose, the config is written again (the run then fails on the bad option below).
  code, line = _smoke(untrained, tfds_dir, "features.query=nope")
  assert code == 1 and "features.query='nope'" in line
  assert json.load(open(untrained / "config.json"))["features"]["query"] == "nope"


def test_damaged_results_json(tmp_path, tfds_dir, smoke_config):
  workdir = tmp_path / "run"
  RunFiles(str(workdir)).write_or_check_config(train.resolve_config(smoke_config))
  (workdir / "results.json").write_text('{"metrics": {"auc": 0.7')
  code, line = _smoke(workdir, tfds_dir)
  assert code == 1 and line.startswith(f"error: {workdir / 'results.json'} is not valid JSON") and \
      line.endswith("delete it to evaluate the run again"), line


def test_metrics_log_cut_short_by_a_kill_and_damaged_in_the_middle(tmp_path):
  files = RunFiles(str(tmp_path))
  files.append_metrics(20, {"auc": 0.6})
  files.append_metrics(40, {"auc": 0.7})
  with open(files.metrics_path, "a") as f:
    f.write('{"auc": 0.7')   # a kill during the write of step 60's line
  assert [m["step"] for m in files.read_metrics()] == [20, 40]
  files.truncate_metrics(40)   # what a resume does: the cut line is gone for good
  assert open(files.metrics_path).read().count("\n") == 2
  with open(files.metrics_path, "w") as f:
    f.write('{"step": 20}\n{oops\n{"step": 40}\n')
  with pytest.raises(ValueError, match=r"metrics.jsonl line 2 is not valid JSON"):
    files.read_metrics()


@pytest.mark.xdist_group("trained_smoke_run")
def test_a_run_made_before_an_option_existed_still_reports(trained_smoke_run, tmp_path, tfds_dir):
  """config.json of a run from an older rec_jax lacks the options added since: they take their defaults (what the
  run used), so the finished run is reported, not refused as another config."""
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_smoke_run, workdir)
  config = json.load(open(os.path.join(workdir, "config.json")))
  del config["train"]["embedding_table_l2"], config["model"]["text"]["lora"]
  json.dump(config, open(os.path.join(workdir, "config.json"), "w"))
  assert _smoke(workdir, tfds_dir) == (0, "")
  assert _smoke(workdir, tfds_dir, "train.embedding_table_l2=0.1")[1].startswith(
      f"error: {workdir} holds a run with a different config (train.embedding_table_l2: 0.0 -> 0.1)")


# --- damaged checkpoints (copies of one finished run) ---------------------------------------------------------------

def _copy_unfinished(trained_smoke_run, tmp_path) -> str:
  workdir = str(tmp_path / "run")
  shutil.copytree(trained_smoke_run, workdir)
  os.remove(os.path.join(workdir, "results.json"))
  return workdir


def _largest_file(directory: str) -> str:
  files = [os.path.join(d, n) for d, _, names in os.walk(directory) for n in names]
  return max(files, key=os.path.getsize)


def _truncate(path: str) -> None:
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip_a_bit(path: str) -> None:
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0x10]))


def _damage_digest(step_dir: str) -> None:
  digest = os.path.join(os.path.dirname(os.path.dirname(step_dir)), "digests", "latest_40.json")
  with open(digest, "w") as f:
    f.write('{"sha2')


DAMAGES = {"truncated": lambda d: _truncate(_largest_file(d)), "bit-flipped": lambda d: _flip_a_bit(_largest_file(d)),
           "digest-damaged": _damage_digest}


@pytest.mark.xdist_group("trained_smoke_run")
def test_damaged_latest_checkpoint_falls_back_to_the_intact_one(trained_smoke_run, tmp_path, tfds_dir, caplog):
  """The resumed run (a damaged step 40, detected as below for every kind of damage) equals the uninterrupted one."""
  workdir = _copy_unfinished(trained_smoke_run, tmp_path)
  DAMAGES["bit-flipped"](os.path.join(workdir, "checkpoints", "latest", "40"))
  assert _smoke(workdir, tfds_dir) == (0, "")
  assert any("checkpoints/latest/40 " in r.getMessage() and "resuming from step 20" in r.getMessage()
             for r in caplog.records), [r.getMessage() for r in caplog.records]
  assert _results(workdir) == _results(trained_smoke_run)


@pytest.mark.xdist_group("trained_smoke_run")
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_latest_checkpoint_is_detected_and_the_intact_one_read(damage, trained_smoke_run, tmp_path, caplog):
  """A truncated or bit-flipped file, or a damaged digest, of step 40 is found (orbax, or the arrays' digest) and
  step 20 is read, named as the step read: rec_jax.analysis and rec_jax.export label the weights with the step
  restored (the step-20 weights were labelled step 40), and a reader deletes nothing."""
  from rec_jax import analysis
  workdir = _copy_unfinished(trained_smoke_run, tmp_path)
  DAMAGES[damage](os.path.join(workdir, "checkpoints", "latest", "40"))
  run = analysis.load_run(workdir, checkpoint="latest")
  assert run.step == 20
  assert any("checkpoints/latest/40 " in r.getMessage() and "reading step 20 instead" in r.getMessage()
             for r in caplog.records), [r.getMessage() for r in caplog.records]
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints", "latest"))) == ["20", "40"]   # nothing deleted


@pytest.mark.parametrize("content", ["[1, 2]", '"run"', "\xff\xfe"])
def test_a_config_json_that_is_no_object_is_one_error(content, tmp_path):
  from rec_jax.analysis.loaded_run import read_config
  (tmp_path / "config.json").write_bytes(content.encode("latin-1"))
  with pytest.raises(UserError, match=r"config\.json (holds a JSON (list|str), not a config object|is not valid "
                                      r"JSON)"):
    read_config(str(tmp_path))


@pytest.mark.xdist_group("trained_smoke_run")
def test_every_latest_checkpoint_damaged_is_one_error(trained_smoke_run, tmp_path, tfds_dir):
  workdir = _copy_unfinished(trained_smoke_run, tmp_path)
  for step in ("20", "40"):
    _truncate(_largest_file(os.path.join(workdir, "checkpoints", "latest", step)))
  code, line = _smoke(workdir, tfds_dir)
  latest = os.path.join(workdir, "checkpoints", "latest")
  assert code == 1 and line.startswith(f"error: every checkpoint in {latest} is damaged (checkpoint {latest}/40 is "
                                       "damaged"), line
  assert line.endswith(f"delete {latest} to train again from step 0, or use a new --workdir")
  assert sorted(os.listdir(latest)) == ["20", "40"]   # nothing deleted when nothing could be used


@pytest.mark.xdist_group("trained_smoke_run")
def test_damaged_best_checkpoint_is_one_error(trained_smoke_run, tmp_path, tfds_dir):
  workdir = _copy_unfinished(trained_smoke_run, tmp_path)
  best = os.path.join(workdir, "checkpoints", "best")
  step = os.listdir(best)[0]
  _flip_a_bit(_largest_file(os.path.join(best, step)))
  code, line = _smoke(workdir, tfds_dir)
  assert code == 1 and line.startswith(f"error: checkpoint {best}/{step} is damaged") and \
      "it is the run's best checkpoint" in line, line
  assert not os.path.exists(os.path.join(workdir, "results.json"))


@pytest.mark.xdist_group("trained_smoke_run")
def test_an_interrupted_save_is_left_to_the_trainer_and_removed_when_it_resumes(trained_smoke_run, tmp_path, caplog):
  """A kill during the async save of step 40 leaves orbax's temporary directory, never renamed to 40. A reader
  (rec_jax.analysis, rec_jax.export) leaves it alone, as it may be a running trainer's save in progress; the
  resuming trainer's Checkpointer removes it, without orbax's warnings. (That the resumed run then equals an
  uninterrupted one is the kill campaign's, whose kills land in async saves.)"""
  from rec_jax import analysis
  from rec_jax.checkpoint import Checkpointer
  workdir = _copy_unfinished(trained_smoke_run, tmp_path)
  latest = os.path.join(workdir, "checkpoints", "latest")
  os.rename(os.path.join(latest, "40"), os.path.join(latest, "40.orbax-checkpoint-tmp-1234567"))
  assert analysis.load_run(workdir, checkpoint="latest").step == 20
  assert sorted(os.listdir(latest)) == ["20", "40.orbax-checkpoint-tmp-1234567"]
  ckpt = Checkpointer(workdir, 20, 3, 1, "auc", "max")
  try:
    assert ckpt.latest_step() == 20 and sorted(os.listdir(latest)) == ["20"]
  finally:
    ckpt.close()
  assert not [r for r in caplog.records if "tmp" in r.getMessage() and r.levelname == "WARNING"]


# --- the data under a resumed run -----------------------------------------------------------------------------------

def _rating_run(workdir, data, tfds_dir):
  return invoke(["--config=configs/movielens_ctr.py:csv,smoke", f"--workdir={workdir}", f"--config.data.path={data}",
                 f"--config.data.data_dir={tfds_dir}", "--config.train.num_steps=2", "--config.eval.every_steps=1",
                 "--config.checkpoint.every_steps=1"])


@pytest.fixture(scope="module")
def rating_run(tmp_path_factory):
  """A finished 2-step rating run on small MovieLens CSV files, its data directory and TFDS directory."""
  root = tmp_path_factory.mktemp("rating")
  movielens_files.write_csv(str(root / "ml"))
  assert _rating_run(root / "run", root / "ml", root / "tfds") == (0, "")
  return root


@pytest.mark.parametrize("change", ["drop_a_line", "edit_a_rating", "touch_only", "drop_a_line_and_the_processor",
                                    "the_processor_only"])
def test_resume_on_changed_data(change, rating_run, tmp_path):
  """Also when feature_processor.json is gone: it is fitted again, on the data the run recorded or not at all (it
  was refitted on the changed data, and the fingerprint rewritten, in silence)."""
  data, workdir = tmp_path / "ml", tmp_path / "run"
  shutil.copytree(rating_run / "ml", data)
  shutil.copytree(rating_run / "run", workdir)
  os.remove(workdir / "results.json")   # interrupted: the next command resumes it
  # The copy's data path differs from the run's: point its config at the copy, as the user's files would be.
  config = json.load(open(workdir / "config.json"))
  lines = (data / "ratings.csv").read_text().splitlines()
  if change.endswith("processor"):
    os.remove(workdir / "feature_processor.json")
  if change.startswith("drop_a_line"):
    lines = lines[:-1]
  elif change == "edit_a_rating":
    fields = lines[5].split(",")
    fields[2] = "0.5" if fields[2] != "0.5" else "1.0"
    lines[5] = ",".join(fields)
  (data / "ratings.csv").write_text("\n".join(lines) + "\n")
  config["data"]["path"] = str(data)
  json.dump(config, open(workdir / "config.json", "w"))
  code, line = _rating_run(workdir, data, rating_run / "tfds")
  if change in ("touch_only", "the_processor_only"):   # the same content: nothing changed, the run resumes
    assert (code, line) == (0, "")
    resumed, original = _results(workdir), _results(rating_run / "run")
    for r in (resumed, original):   # (the copy reads the cache the run built, in its own workdir)
      r.pop("text_cache", None)
    assert resumed == original
    return
  assert code == 1 and line.startswith(f"error: the data of the run in {workdir} changed since it started (split "), line
  assert "resuming would transform it with the vocabularies and statistics fitted on the old data" in line
  assert not (workdir / "results.json").exists()


def test_modified_feature_processor_is_refused(rating_run, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(rating_run / "run", workdir)
  os.remove(workdir / "results.json")
  with open(workdir / "feature_processor.json", "a") as f:
    f.write(" ")
  code, line = _rating_run(workdir, rating_run / "ml", rating_run / "tfds")
  assert (code, line) == (1, f"error: {workdir / 'feature_processor.json'} was modified after the run fitted it; "
                             "restore it, or use a new --workdir")


# --- runs that diverge or have nothing to evaluate -------------------------------------------------------------------

def test_nan_loss_fails_the_run_with_no_checkpoint_or_results(tmp_path, tfds_dir):
  workdir = tmp_path / "run"
  code, line = _smoke(workdir, tfds_dir, "train.learning_rate=1e6")
  assert code == 1 and line.startswith("error: training diverged: the loss is nan at step "), line
  assert line.endswith("no checkpoint was written and the run is failed; try a lower train.learning_rate (now "
                       "1e+06) or train.grad_clip_norm, and check the data")
  assert not (workdir / "results.json").exists()
  assert not [s for s in os.listdir(workdir / "checkpoints" / "latest") if s.isdigit()]


def test_divergence_after_a_checkpoint_keeps_it_intact(smoke_config, tmp_path, monkeypatch):
  """The loss turns NaN after step 25 (a train step that poisons the parameters): the run fails naming step 26,
  the checkpoint of step 20 stays and restores to finite parameters, and nothing of step 40 is written."""
  import jax
  import jax.numpy as jnp
  make_train_step = train.make_train_step

  def poisoning(*args, **kwargs):
    step_fn = make_train_step(*args, **kwargs)
    calls = []

    def step(params, frozen, opt_state, batch, key):
      params, opt_state, metrics = step_fn(params, frozen, opt_state, batch, key)
      calls.append(1)
      if len(calls) > 25:
        params = jax.tree.map(lambda p: p * jnp.nan, params)
        metrics = {**metrics, "loss": metrics["loss"] * jnp.nan}
      return params, opt_state, metrics
    return step

  monkeypatch.setattr(train, "make_train_step", poisoning)
  workdir = str(tmp_path / "run")
  with pytest.raises(ValueError, match="the loss is nan at step 26; the run is failed and its last good checkpoint "
                                       r"\(step 20\) is kept"):
    train.train_and_evaluate(smoke_config, workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints", "latest"))) == ["20"]
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  assert [m["step"] for m in RunFiles(workdir).read_metrics()] == [20]
  from rec_jax.analysis import load_run
  run = load_run(workdir)
  assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(run.params))


@pytest.mark.parametrize("override,expected", [
    ("data.shop.validation_fraction=0.0",
     "data.shop.validation_fraction=0.0 must be > 0 and < 1 (the split would be empty)"),
    ("data.shop.test_fraction=0.95", "data.shop.validation_fraction + test_fraction must be < 1 (no training "
                                     "impressions would be left)"),
    ("data.shop.num_users=0", "data.shop.num_users=0 must be an integer >= 1"),
    ("data.shop.dirty_rate=1.5", "data.shop.dirty_rate=1.5 must be >= 0 and <= 1"),
])
def test_a_shop_with_an_empty_split_is_refused_before_any_work(override, expected, tmp_path, tfds_dir):
  assert _smoke(tmp_path / "run", tfds_dir, override) == (1, f"error: {expected}")
  assert not (tmp_path / "run").exists() or not os.listdir(tmp_path / "run")


def test_an_evaluation_split_the_data_does_not_have(tmp_path, tfds_dir):
  assert _smoke(tmp_path / "run", tfds_dir, "eval.split=valid") == (
      1, "error: dataset 'synthetic_shop' has no split(s) ['valid']; it has ['test', 'train', 'validation']")


def test_an_empty_validation_split_fails_before_training(tmp_path):
  """Every user with one interaction: leave-one-out leaves nothing to validate on."""
  data = tmp_path / "seq.txt"
  data.write_text("".join(f"{u} {100 + u}\n" for u in range(1, 30)))
  code, line = invoke(["--config=configs/iclrec_seq.py:smoke", f"--workdir={tmp_path / 'run'}",
                       f"--config.data.path={data}", f"--config.data.data_dir={tmp_path / 'tfds'}"])
  assert code == 1 and line.startswith("error: the validation split has no rows"), line
  assert not os.path.exists(tmp_path / "run" / "checkpoints" / "latest" / "1")


def test_waiting_for_another_process_preparing_the_data_names_it(tmp_path, caplog):
  """A dataset another process is preparing (or a stopped process holds) is waited for, and the log says whom."""
  import threading
  from rec_jax.data.synthetic_shop import builder, world
  from rec_jax.data.tfds_prepare import prepare_once
  spec = world.ShopSpec(num_users=20, num_items=10, num_impressions=300)
  config = builder.shop_config(spec)
  data_dir = tmp_path / "tfds"
  data_dir.mkdir()
  with open(data_dir / f".{config.name}.lock", "a+") as held:
    fcntl.flock(held, fcntl.LOCK_EX)
    held.write("4242")
    held.flush()
    releaser = threading.Timer(1.0, fcntl.flock, (held, fcntl.LOCK_UN))
    releaser.start()
    with caplog.at_level("WARNING"):
      shop = prepare_once(builder.SyntheticShop, config, str(data_dir))
    releaser.join()
  assert f"waiting for process 4242, which is preparing dataset {config.name} in {data_dir}" in caplog.text
  assert shop.info.splits["train"].num_examples > 0


def test_damaged_feature_processor_of_a_run_without_fingerprint(rating_run, tmp_path):
  """A run from before fingerprints (no data_fingerprint.json) whose feature_processor.json is damaged."""
  workdir = tmp_path / "run"
  shutil.copytree(rating_run / "run", workdir)
  os.remove(workdir / "results.json")
  os.remove(workdir / "data_fingerprint.json")
  (workdir / "feature_processor.json").write_text('{"vocabs": {"user_id"')
  code, line = _rating_run(workdir, rating_run / "ml", rating_run / "tfds")
  assert code == 1 and line.startswith(f"error: {workdir / 'feature_processor.json'} is damaged ("), line
