"""The reliability corpus, launchers: every bad flag, sweep file, sweep directory and run file of `launch.sweep` and
`launch.aggregate` ends in exactly one `error:` line naming the problem (exit code 1, no traceback) before any run
starts or anything is written; a sweep directory holds one sweep (a command for another is refused, naming what
differs); a sweep exits 0 only when every selected run finished; and a run's record (done, failed and why) is
exactly what its files say.

Most cases run the command line in-process (`launch.sweep.invoke`, `launch.aggregate.invoke`: the CLIs' own flag
parsing and error printing); the SUBPROCESS cases run `python -m ...` as a user does; the REAL cases share one sweep
of `configs/synthetic.py:smoke` (one run trained, one refused by rec_jax.main) run once, on one xdist worker.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from typing import List

import pytest

from launch import aggregate, devices, run_records, sweep
from rec_jax.config.loader import override_errors
from rec_jax.errors import UserError
from rec_jax.workdir import RUN_LOCK_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = "configs/synthetic.py"
# A sweep of two variants, one seed, as launch.sweep's flags; its runs are held busy, so nothing trains.
AB_SWEEP = """
def get_sweep(arg=None):
  return dict(seeds=(0,), baseline="a", variants=[dict(name="a", preset="smoke"),
              dict(name="b", preset="smoke", overrides={"model.cross": "fm"})])
"""
COMMON = ["--config.train.num_steps=10", "--config.eval.every_steps=10"]


@pytest.fixture(autouse=True)
def _repo_cwd_and_no_runs(monkeypatch):
  monkeypatch.chdir(ROOT)   # Config paths are relative to the checkout, as in the README's commands.

  def started(launcher, run, lock_fd):
    raise AssertionError(f"an in-process case started a run: {run.command()}")
  monkeypatch.setattr(sweep.Launcher, "_execute_locked", started)   # Nothing in-process ever trains.


def one_error(code: int, err: str) -> str:
  """The single `error:` line of a failed command (without "error: "); asserts it is the whole of stderr."""
  assert code == 1, err
  assert "Traceback" not in err and err.endswith("\n") and len(err.splitlines()) == 1, err
  assert err.startswith("error: "), err
  return err[len("error: "):-1]


def invoke_error(capsys, invoke, argv: List[str]) -> str:
  code = invoke(argv)
  return one_error(code, capsys.readouterr().err)


def write_sweep(tmp_path, body: str, name: str = "sweep.py") -> str:
  path = tmp_path / name
  path.write_text(body)
  return str(path)


def returning(expression: str) -> str:
  return f"def get_sweep(arg=None):\n  return {expression}\n"


# --- launch.sweep: the sweep file ---------------------------------------------------------------------------------

# (id, sweep file, the error after "error: "; {path} is the file)
SWEEP_FILES = [
    ("no_get_sweep", "X = 1\n", "sweep file '{path}' defines no get_sweep(arg)"),
    ("returns_a_list", returning("[dict(name='a')]"),
     "{path}: get_sweep() must return dict(variants=[dict(name, preset, overrides)], seeds, baseline), got list"),
    ("no_variants", returning("dict(seeds=(0,))"),
     "{path}: get_sweep() must return a non-empty list of variants=[dict(name, preset, overrides)], got None"),
    ("empty_variants", returning("dict(variants=[])"),
     "{path}: get_sweep() must return a non-empty list of variants=[dict(name, preset, overrides)], got []"),
    ("unknown_sweep_key", returning("dict(variants=[dict(name='a')], seed=(0, 1))"),
     "{path}: get_sweep() returned unknown key(s) ['seed']; valid: variants, seeds, baseline"),
    ("duplicate_variant_names", returning("dict(variants=[dict(name='a'), dict(name='b'), dict(name='a')])"),
     "{path}: variant names repeat: ['a']"),
    ("unknown_baseline", returning("dict(variants=[dict(name='a')], baseline='base')"),
     "{path}: baseline 'base' is not a variant; variants: a"),
    ("variant_not_a_dict", returning("dict(variants=['a'])"),
     "{path}: variants[0] must be dict(name, preset, overrides), got 'a'"),
    ("variant_without_name", returning("dict(variants=[dict(preset='smoke')])"),
     "{path}: variants[0] needs a name usable as a directory name, got None"),
    ("variant_name_is_a_path", returning("dict(variants=[dict(name='a/b')])"),
     "{path}: variants[0] needs a name usable as a directory name, got 'a/b'"),
    ("variant_name_dotdot", returning("dict(variants=[dict(name='..')])"),
     "{path}: variants[0] needs a name usable as a directory name, got '..'"),
    ("variant_unknown_key", returning("dict(variants=[dict(name='a', override={'model.cross': 'fm'})])"),
     "{path}: variants[0] has unknown key(s) ['override']; valid: name, preset, overrides"),
    ("preset_not_a_string", returning("dict(variants=[dict(name='a', preset=('lr', 'smoke'))])"),
     "{path}: variant 'a': preset must be a string, got ('lr', 'smoke')"),
    ("overrides_not_a_dict", returning("dict(variants=[dict(name='a', overrides=['model.cross=fm'])])"),
     "{path}: variant 'a': overrides must be a dict {{'a.b': value}}, got ['model.cross=fm']"),
    ("override_key_not_a_string", returning("dict(variants=[dict(name='a', overrides={1: 'fm'})])"),
     "{path}: variant 'a': override keys must be config keys like 'model.cross', got 1"),
    ("override_key_with_equals", returning("dict(variants=[dict(name='a', overrides={'model.cross=fm': 1})])"),
     "{path}: variant 'a': override keys must be config keys like 'model.cross', got 'model.cross=fm'"),
    ("override_value_a_dict", returning("dict(variants=[dict(name='a', overrides={'model': {'cross': 'fm'}})])"),
     "{path}: variant 'a': override 'model' is a dict; set each field with its own dotted key "
     "('model.field': value)"),
    ("seeds_negative", returning("dict(variants=[dict(name='a')], seeds=(0, -1))"),
     "{path}: seeds must be non-negative integers, got -1 in [0, -1]"),
    ("seeds_repeat", returning("dict(variants=[dict(name='a')], seeds=(0, 1, 0))"),
     "{path}: seeds repeat: [0] in [0, 1, 0]"),
    ("seeds_float", returning("dict(variants=[dict(name='a')], seeds=(0, 1.5))"),
     "{path}: seeds must be non-negative integers, got 1.5 in [0, 1.5]"),
    ("seeds_bool", returning("dict(variants=[dict(name='a')], seeds=(True,))"),
     "{path}: seeds must be non-negative integers, got True in [True]"),
    ("seeds_a_string", returning("dict(variants=[dict(name='a')], seeds='012')"),
     "{path}: seeds must be a list of non-negative integers, got '012'"),
    ("seeds_a_count", returning("dict(variants=[dict(name='a')], seeds=3)"),
     "{path}: seeds must be a list of non-negative integers, got 3"),
    ("seeds_empty", returning("dict(variants=[dict(name='a')], seeds=())"),
     "{path}: seeds is empty; give at least one seed"),
    ("get_sweep_refuses_its_argument", "def get_sweep(arg=None):\n  raise ValueError(f'unknown argument {arg}')\n",
     "{path}: get_sweep(None) refused: unknown argument None"),
]


@pytest.mark.parametrize("body,message", [c[1:] for c in SWEEP_FILES], ids=[c[0] for c in SWEEP_FILES])
def test_sweep_file(tmp_path, capsys, body, message):
  path = write_sweep(tmp_path, body)
  out = tmp_path / "out"
  line = invoke_error(capsys, sweep.invoke, [f"--config={CONFIG}", f"--sweep={path}", f"--workdir={out}"])
  assert line == message.format(path=path)
  assert not out.exists()   # Refused before anything is written.


# --- launch.sweep: flags ------------------------------------------------------------------------------------------

# (id, flags replacing or adding to a valid command line, the error; {sweep} and {out} are filled in)
SWEEP_FLAGS = [
    ("parallel_zero", ["--parallel=0"], "--parallel=0: at least 1 run at a time"),
    ("parallel_negative", ["--parallel=-2"], "--parallel=-2: at least 1 run at a time"),
    ("parallel_not_a_number", ["--parallel=two"], "flag --parallel=two: invalid literal for int() with base 10: 'two'"),
    ("devices_per_run_negative", ["--devices_per_run=-1"],
     "--devices_per_run=-1: a count of devices (0: an even share)"),
    ("devices_per_run_too_many", ["--devices_per_run=5"], "--devices_per_run=5: only 4 cpu device(s) are visible"),
    ("parallel_runs_need_more_devices", ["--parallel=3", "--devices_per_run=2"],
     "--parallel=3 runs of 2 device(s) each need 6 devices; 4 cpu device(s) are visible"),
    ("misspelt_flag", ["--paralel=2"], "Unknown command line flag 'paralel'. Did you mean: parallel ?"),
    ("positional_argument", ["extra"], "unexpected arguments: extra"),
    ("workdir_missing", ["--workdir="], "--workdir is required"),
    ("sweep_missing", ["--sweep="], "--sweep is required"),
    ("config_file_missing", ["--config=configs/nope.py"], "config file 'configs/nope.py' does not exist"),
    ("config_is_a_directory", ["--config=configs:smoke"], "config file 'configs' is not a file"),
    ("sweep_file_missing", ["--sweep=configs/sweeps/nope.py"], "sweep file 'configs/sweeps/nope.py' does not exist"),
    ("sweep_argument_refused", ["--sweep=configs/sweeps/tower_ablation.py:bogus"],
     "configs/sweeps/tower_ablation.py: get_sweep('bogus') refused: unknown argument(s) ['bogus'] of "
     "tower_ablation.py; valid: seeds=N, smoke, leave_one_out"),
    ("only_unknown_variant", ["--only=c"], "--only=c names no variant of {sweep}: c; its variants: a, b"),
    ("only_partly_unknown", ["--only=a,zzz"], "--only=a,zzz names no variant of {sweep}: zzz; its variants: a, b"),
    ("only_empty", ["--only="], "--only is empty; name variants (comma-separated) or leave the flag out"),
]


def _with(argv: List[str], extra: List[str]) -> List[str]:
  """`argv` with each flag of `extra` replacing the one of the same name (or added)."""
  names = {e.split("=", 1)[0] for e in extra if e.startswith("--")}
  return [a for a in argv if a.split("=", 1)[0] not in names] + extra


@pytest.mark.parametrize("extra,message", [c[1:] for c in SWEEP_FLAGS], ids=[c[0] for c in SWEEP_FLAGS])
def test_sweep_flag(tmp_path, capsys, monkeypatch, extra, message):
  monkeypatch.setattr(devices, "visible_devices", lambda: ("cpu", 4))   # What the tests' XLA_FLAGS give a child.
  path = write_sweep(tmp_path, AB_SWEEP)
  out = tmp_path / "out"
  argv = _with([f"--config={CONFIG}", f"--sweep={path}", f"--workdir={out}", *COMMON], extra)
  assert invoke_error(capsys, sweep.invoke, argv) == message.format(sweep=path, out=out)
  assert not out.exists()


def test_sweep_workdir_is_a_file(tmp_path, capsys):
  path = write_sweep(tmp_path, AB_SWEEP)
  (tmp_path / "out").write_text("not a directory")
  line = invoke_error(capsys, sweep.invoke, [f"--config={CONFIG}", f"--sweep={path}", f"--workdir={tmp_path / 'out'}"])
  assert line == f"--workdir={tmp_path / 'out'} is a file, not a directory"


@pytest.mark.parametrize("content,message", [
    ("{\"runs\": [", "{out}/sweep.json is not valid JSON (Expecting value: line 1 column 11 (char 10))"),
    ("{\"runs\": {}}", "{out}/sweep.json: expected an object with runs=[{{variant, seed, workdir}}, ...], got "
                       "{{'runs': {{}}}}"),
    ("{\"runs\": [{\"variant\": \"a\", \"seed\": \"0\"}]}",
     "{out}/sweep.json: runs[0].seed must be an integer, got '0'"),
], ids=["sweep_json_not_json", "sweep_json_runs_not_a_list", "sweep_json_seed_a_string"])
def test_sweep_refuses_a_damaged_sweep_json(tmp_path, capsys, content, message):
  path = write_sweep(tmp_path, AB_SWEEP)
  out = tmp_path / "out"
  out.mkdir()
  (out / "sweep.json").write_text(content)
  line = invoke_error(capsys, sweep.invoke, [f"--config={CONFIG}", f"--sweep={path}", f"--workdir={out}"])
  assert line == message.format(out=out)
  assert sorted(os.listdir(out)) == ["sweep.json"] and (out / "sweep.json").read_text() == content


# --- launch.sweep: one sweep per directory, and the exit code of busy runs ----------------------------------------

class Busy:
  """Holds the sweep locks of runs, as another sweep process running them does: the sweep runs nothing."""

  def __init__(self, out, runs):
    self.files = []
    for variant, seed in runs:
      run = out / variant / f"seed_{seed}"
      run.mkdir(parents=True, exist_ok=True)
      f = open(run / RUN_LOCK_FILE, "w")
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      self.files.append(f)

  def release(self):
    for f in self.files:
      f.close()


@pytest.fixture
def claimed(tmp_path, capsys):
  """A directory holding the a/b sweep (its first command found both runs busy); (argv, out, sweep.json text)."""
  path = write_sweep(tmp_path, AB_SWEEP)
  out = tmp_path / "out"
  argv = [f"--config={CONFIG}", f"--sweep={path}", f"--workdir={out}", *COMMON]
  busy = Busy(out, [("a", 0), ("b", 0)])
  code = sweep.invoke(argv)
  captured = capsys.readouterr()
  assert one_error(code, captured.err) == "2 of 2 runs not finished (2 busy); the summary line above names them"
  assert captured.out.splitlines()[-1] == f"0/2 runs finished; busy: {out}/a/seed_0, {out}/b/seed_0"
  yield argv, out, (out / "sweep.json").read_text()
  busy.release()


def test_first_command_writes_sweep_json_with_every_run(claimed):
  argv, out, text = claimed
  spec = json.loads(text)
  assert [(r["variant"], r["seed"], r["workdir"]) for r in spec["runs"]] == [("a", 0, "a/seed_0"), ("b", 0, "b/seed_0")]
  assert spec["runs"][1]["command"][3:] == [f"--config={CONFIG}:smoke", f"--workdir={out}/b/seed_0",
                                            "--config.model.cross=fm", "--config.seed=0", *COMMON]
  assert (spec["config"], spec["baseline"], spec["variants"], spec["seeds"]) == (CONFIG, "a", ["a", "b"], [0])
  assert argv[1].endswith("sweep.py") and spec["sweep"] == argv[1].split("=", 1)[1]


B_DCN = AB_SWEEP.replace('"fm"', '"dcn"')
# (id, how the second command differs: extra flags, a new sweep file body or None, the differences named)
OTHER_SWEEPS = [
    ("common_override_added", ["--config.train.learning_rate=0.1"], None,
     "runs' overrides differ: train.learning_rate: <absent> -> 0.1"),
    ("common_override_changed", ["--config.train.num_steps=20"], None,
     "runs' overrides differ: train.num_steps: 10 -> 20"),
    ("common_override_dropped", ["-"], None, "runs' overrides differ: eval.every_steps: 10 -> <absent>"),
    ("variant_override_changed", [], B_DCN, "runs' overrides differ: model.cross: fm -> dcn (variant b)"),
    ("variant_preset_changed", [], AB_SWEEP.replace('name="b", preset="smoke"', 'name="b", preset="smoke,seed=3"'),
     "runs' configs differ: configs/synthetic.py:smoke -> configs/synthetic.py:smoke,seed=3 (variant b)"),
    ("seed_added", [], AB_SWEEP.replace("seeds=(0,)", "seeds=(0, 1)"), "seeds: [0] -> [0, 1]"),
    ("variant_added", [], AB_SWEEP.replace("variants=[", "variants=[dict(name='c'), "),
     "variants: ['a', 'b'] -> ['c', 'a', 'b']"),
    ("baseline_changed", [], AB_SWEEP.replace('baseline="a"', 'baseline="b"'), "baseline: a -> b"),
    ("base_config_changed", ["--config=configs/zoo.py"], None,
     "config: 'configs/synthetic.py' -> 'configs/zoo.py'; runs' configs differ: configs/synthetic.py:smoke -> "
     "configs/zoo.py:smoke"),
]


@pytest.mark.parametrize("extra,body,differences", [c[1:] for c in OTHER_SWEEPS], ids=[c[0] for c in OTHER_SWEEPS])
def test_a_directory_refuses_another_sweep_before_anything_runs(claimed, tmp_path, capsys, extra, body, differences):
  argv, out, text = claimed
  if extra == ["-"]:
    argv, extra = argv[:-1], []
  if body is not None:
    argv = _with(argv, [f"--sweep={write_sweep(tmp_path, body)}"])
  line = invoke_error(capsys, sweep.invoke, _with(argv, extra))
  assert line == f"{out} holds another sweep ({out}/sweep.json): {differences}; use a new --workdir or the same command"
  assert (out / "sweep.json").read_text() == text
  assert sorted(os.listdir(out / "b" / "seed_0")) == [RUN_LOCK_FILE]   # No failed.json, no run.log.


def test_another_sweep_file_path_is_another_sweep(claimed, tmp_path, capsys):
  argv, out, _ = claimed
  other = write_sweep(tmp_path, AB_SWEEP, name="copy.py")
  line = invoke_error(capsys, sweep.invoke, _with(argv, [f"--sweep={other}"]))
  assert line == (f"{out} holds another sweep ({out}/sweep.json): sweep: '{tmp_path}/sweep.py' -> '{other}'; "
                  "use a new --workdir or the same command")


# (id, flags of a command that runs the same sweep differently, the runs it selects)
SAME_SWEEPS = [
    ("only_a_subset", ["--only=b"], ["b"]),
    ("parallel", ["--parallel=2"], ["a", "b"]),
    ("devices_per_run", ["--devices_per_run=1"], ["a", "b"]),
    ("overrides_reordered", ["--config.train.num_steps=10"], ["a", "b"]),   # Moved after eval.every_steps.
    ("config_path_spelled_differently", ["--config=./configs/synthetic.py"], ["a", "b"]),
]


@pytest.mark.parametrize("extra,selected", [c[1:] for c in SAME_SWEEPS], ids=[c[0] for c in SAME_SWEEPS])
def test_how_a_sweep_runs_is_not_another_sweep(claimed, capsys, monkeypatch, extra, selected):
  """Accepted: the command reaches the runs (busy, held by the fixture) and exits 1 because they did not finish."""
  monkeypatch.setattr(devices, "visible_devices", lambda: ("cpu", 4))
  argv, out, text = claimed
  code = sweep.invoke(_with(argv, extra))
  captured = capsys.readouterr()
  n = len(selected)
  assert one_error(code, captured.err) == f"{n} of {n} runs not finished ({n} busy); the summary line above names them"
  busy = ", ".join(f"{out}/{v}/seed_0" for v in selected)
  assert captured.out.splitlines()[-1] == f"0/{n} runs finished; busy: {busy}"
  assert (out / "sweep.json").read_text() == text


# --- launch.sweep: the summary of what happened to each run ------------------------------------------------------

def _runs(tmp_path, names):
  return [sweep.Run(n, 0, CONFIG, {}, str(tmp_path / n / "seed_0")) for n in names]


def _files(run, **files):
  os.makedirs(run.workdir, exist_ok=True)
  for name, content in files.items():
    with open(os.path.join(run.workdir, name.replace("_json", ".json")), "w") as f:
      f.write(content if isinstance(content, str) else json.dumps(content))


RESULTS = {"metrics": {"auc": 0.7}}
# (id, files per run, this command's status per run (None: not reached), the summary line; {a} {b}: run dirs)
SUMMARIES = [
    ("done_and_failed", [dict(results_json=RESULTS), dict(failed_json={"error": "error: boom"})], ["done", "failed"],
     "1/2 runs finished; failed: {b} (error: boom)"),
    ("interrupted_and_not_started", [{}, {}], ["interrupted", None],
     "0/2 runs finished; interrupted: {a}; not started: {b}"),
    ("stale_failed_json_beside_results", [dict(results_json=RESULTS, failed_json={"error": "error: old"}), {}],
     ["skipped (finished before)", "not started"], "1/2 runs finished; not started: {b}"),
    ("busy_despite_an_older_failed_json", [dict(failed_json={"error": "error: old"}), {}], ["busy", "busy"],
     "0/2 runs finished; busy: {a}, {b}"),
    ("non_finite_results_are_noted", [dict(results_json='{"metrics": {"auc": NaN}}'), dict(results_json=RESULTS)],
     ["skipped (finished before)", "done"],
     "2/2 runs finished; tabled as failed: {a} (non-finite metrics in results.json: auc=nan)"),
    ("refused_on_recheck", [dict(results_json=RESULTS), dict(results_json=RESULTS)],
     [{"status": "refused on re-check", "error": "error: other config"}, "done"],
     "2/2 runs finished; refused on re-check: {a} (error: other config)"),
]


@pytest.mark.parametrize("files,statuses,line", [c[1:] for c in SUMMARIES], ids=[c[0] for c in SUMMARIES])
def test_sweep_summary(tmp_path, files, statuses, line):
  runs = _runs(tmp_path, ["a", "b"])
  for run, run_files in zip(runs, files):
    _files(run, **run_files)
  reported = [dict(s, run=r.workdir) if isinstance(s, dict) else {"run": r.workdir, "status": s}
              for r, s in zip(runs, statuses) if s]
  assert sweep.summary(runs, reported)[0] == line.format(a=runs[0].workdir, b=runs[1].workdir)


# --- launch.aggregate ----------------------------------------------------------------------------------------------

def write_run(root, variant, seed, results=None, failed=None, config=None):
  run = root / variant / f"seed_{seed}"
  run.mkdir(parents=True)
  files = {"config.json": config if config is not None else {"task": "ctr", "model": {"name": "hybrid"}},
           "results.json": results, "failed.json": failed}
  for name, content in files.items():
    if content is not None:
      (run / name).write_text(content if isinstance(content, str) else json.dumps(content))
  return run


@pytest.fixture
def tabled(tmp_path):
  """A sweep directory of two variants, two seeds each, with a sweep.json naming the baseline."""
  for variant, aucs in (("base", (0.6, 0.7)), ("wide", (0.65, 0.72))):
    for seed, auc in enumerate(aucs):
      write_run(tmp_path, variant, seed, {"metrics": {"auc": auc, "logloss": 1 - auc}, "train_steps_per_s": 10.0,
                                          "parameters": {"trainable": 100}})
  (tmp_path / "sweep.json").write_text(json.dumps({
      "config": CONFIG, "sweep": "x.py", "baseline": "base", "variants": ["base", "wide"], "seeds": [0, 1],
      "runs": [{"variant": v, "seed": s, "workdir": f"{v}/seed_{s}"} for v in ("base", "wide") for s in (0, 1)]}))
  return tmp_path


# (id, flags, a file to damage (path under the sweep dir, content) or None, the error; {d}: the sweep directory)
AGGREGATE_ERRORS = [
    ("alpha_zero", ["--alpha=0"], None, "--alpha=0.0 must lie strictly between 0 and 1"),
    ("alpha_one", ["--alpha=1"], None, "--alpha=1.0 must lie strictly between 0 and 1"),
    ("alpha_negative", ["--alpha=-0.05"], None, "--alpha=-0.05 must lie strictly between 0 and 1"),
    ("alpha_nan", ["--alpha=nan"], None, "--alpha=nan must lie strictly between 0 and 1"),
    ("alpha_not_a_number", ["--alpha=five"], None, "flag --alpha=five: could not convert string to float: 'five'"),
    ("unknown_metric", ["--metrics=auc,ndcg@5"], None,
     "--metrics: no run has metric(s) ['ndcg@5']; available: auc, logloss"),
    ("unknown_variant", ["--variants=base,narrow"], None,
     "--variants: unknown variant(s) ['narrow']; valid: base, wide"),
    ("unknown_baseline", ["--baseline=narrow"], None,
     "--baseline=narrow names no variant of the table; valid: base, wide"),
    ("baseline_not_tabled", ["--baseline=wide", "--variants=base"], None,
     "--baseline=wide names no variant of the table; valid: base"),
    ("sweep_dir_flag_missing", ["--sweep_dir="], None, "--sweep_dir is required"),
    ("positional_argument", ["extra"], None, "unexpected arguments: extra"),
    ("sweep_json_not_json", [], ("sweep.json", "{"),
     "{d}/sweep.json is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("sweep_json_run_without_seed", [], ("sweep.json", '{"runs": [{"variant": "base"}]}'),
     "{d}/sweep.json: runs[0] needs a variant and a seed, got {{'variant': 'base'}}"),
    ("sweep_json_baseline_not_a_name", [], ("sweep.json", '{"baseline": 1, "runs": []}'),
     "{d}/sweep.json: baseline must be a name, got 1"),
    ("sweep_json_lists_no_runs", [], ("sweep.json", '{"runs": []}'), "{d}/sweep.json lists no runs"),
    ("results_json_not_json", [], ("wide/seed_1/results.json", '{"metrics": {"auc": 0.7'),
     "{d}/wide/seed_1/results.json is not valid JSON (Expecting ',' delimiter: line 1 column 24 (char 23))"),
    ("results_json_binary", [], ("wide/seed_1/results.json", b"\xff\xfe"),
     "{d}/wide/seed_1/results.json is not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid "
     "start byte)"),
    ("results_json_a_list", [], ("wide/seed_1/results.json", "[0.7]"),
     "{d}/wide/seed_1/results.json: expected an object with metrics={{name: value}}, got [0.7]"),
    ("results_json_without_metrics", [], ("wide/seed_1/results.json", '{"auc": 0.7}'),
     "{d}/wide/seed_1/results.json: metrics must be an object {{name: value}}, got None"),
    ("results_json_metric_a_string", [], ("wide/seed_1/results.json", '{"metrics": {"auc": "0.7"}}'),
     "{d}/wide/seed_1/results.json: metrics['auc'] must be a number, got '0.7'"),
    ("results_json_params_a_string", [],
     ("wide/seed_1/results.json", '{"metrics": {"auc": 0.7}, "parameters": {"trainable": "100"}}'),
     "{d}/wide/seed_1/results.json: parameters must be an object with an integer trainable, got "
     "{{'trainable': '100'}}"),
    ("config_json_not_json", [], ("base/seed_0/config.json", ""),
     "{d}/base/seed_0/config.json is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ("config_json_model_a_string", [], ("base/seed_0/config.json", '{"task": "ctr", "model": "hybrid"}'),
     "{d}/base/seed_0/config.json: model must be an object with a name, got 'hybrid'"),
    ("failed_json_not_json", [], ("base/seed_1/failed.json", "exit code 1"),
     "{d}/base/seed_1/failed.json is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ("failed_json_error_a_list", [], ("base/seed_1/failed.json", '{"error": ["boom"]}'),
     "{d}/base/seed_1/failed.json: error must be a string, got ['boom']"),
    ("results_md_unwritable", [], ("results.md/", None), "Is a directory: '{d}/results.md'"),
]


@pytest.mark.parametrize("extra,damage,message", [c[1:] for c in AGGREGATE_ERRORS],
                         ids=[c[0] for c in AGGREGATE_ERRORS])
def test_aggregate_error(tabled, capsys, extra, damage, message):
  if damage is not None:
    name, content = damage
    if name.endswith("/"):
      (tabled / name).mkdir()
    else:
      if name.endswith("failed.json"):
        (tabled / name).parent.joinpath("results.json").unlink()   # A failed run's failed.json is read.
      (tabled / name).write_bytes(content if isinstance(content, bytes) else content.encode())
  line = invoke_error(capsys, aggregate.invoke, _with([f"--sweep_dir={tabled}"], extra))
  assert line == message.format(d=tabled)


@pytest.mark.parametrize("setup,message", [
    ("missing", "--sweep_dir={d} does not exist"),
    ("file", "--sweep_dir={d} is a file, not a sweep directory"),
    ("empty", "no runs under {d}: neither sweep.json nor <variant>/seed_<n>/ directories"),
    ("only_stray_dirs", "no runs under {d}: neither sweep.json nor <variant>/seed_<n>/ directories"),
], ids=["sweep_dir_missing", "sweep_dir_is_a_file", "sweep_dir_empty", "sweep_dir_without_run_dirs"])
def test_aggregate_sweep_dir(tmp_path, capsys, setup, message):
  d = tmp_path / "sweep"
  if setup == "file":
    d.write_text("")
  elif setup != "missing":
    d.mkdir()
    if setup == "only_stray_dirs":
      (d / "a" / "seed_x").mkdir(parents=True)
      (d / "notes").mkdir()
  assert invoke_error(capsys, aggregate.invoke, [f"--sweep_dir={d}"]) == message.format(d=d)


# --- Run records: what a run directory says ------------------------------------------------------------------------

# (id, results.json text or None, failed.json or None, (status, error))
RECORDS = [
    ("nan_metric", '{"metrics": {"auc": NaN, "logloss": 0.5}}', None,
     ("failed", "non-finite metrics in results.json: auc=nan")),
    ("inf_metric", '{"metrics": {"auc": 0.7, "logloss": Infinity}}', None,
     ("failed", "non-finite metrics in results.json: logloss=inf")),
    ("several_non_finite", '{"metrics": {"auc": -Infinity, "gauc": NaN, "logloss": 0.5}}', None,
     ("failed", "non-finite metrics in results.json: auc=-inf, gauc=nan")),
    ("null_metric", '{"metrics": {"auc": null}}', None, ("failed", "non-finite metrics in results.json: auc=None")),
    ("judged_metric_nan", '{"metrics": {"auc": NaN, "auc/cold": 0.6}, "best_metric": ["auc", "max"]}', None,
     ("failed", "non-finite metrics in results.json: auc=nan")),
    ("judged_metric_absent", '{"metrics": {"logloss": 0.5}, "best_metric": ["auc", "max"]}', None,
     ("failed", "non-finite metrics in results.json: auc=None")),
    ("undefined_slice_of_a_good_run", '{"metrics": {"auc": 0.7, "gauc/cold": NaN}, "best_metric": ["auc", "max"]}',
     None, ("done", None)),
    ("stale_failed_json_beside_results", '{"metrics": {"auc": 0.7}}', {"error": "error: an older attempt"},
     ("done", None)),
    ("damaged_stale_failed_json_is_not_read", '{"metrics": {"auc": 0.7}}', "{not json", ("done", None)),
    ("failed_json_error", None, {"exit_code": 1, "error": "error: unknown config key 'x'"},
     ("failed", "error: unknown config key 'x'")),
    ("failed_json_from_its_log", None, {"exit_code": 2, "log_tail": ["a", "error: bad data", "b"]},
     ("failed", "error: bad data")),
    ("neither", None, None, ("incomplete", "no results.json (interrupted or running)")),
]


@pytest.mark.parametrize("results,failed,expected", [c[1:] for c in RECORDS], ids=[c[0] for c in RECORDS])
def test_run_record(tmp_path, results, failed, expected):
  run = write_run(tmp_path, "v", 0, results, failed)
  record = run_records.read_run("v", 0, str(run))
  assert (record["status"], record["error"]) == expected
  if expected[0] == "failed":
    assert record["metrics"] == {}   # Nothing of a failed run is averaged.
  else:
    assert all(v == v for v in record["metrics"].values())   # an undefined (NaN) metric is left out


def test_a_non_finite_seed_is_a_failed_row_never_averaged(tmp_path):
  for seed, auc in enumerate((0.6, 0.7)):
    write_run(tmp_path, "v", seed, {"metrics": {"auc": auc}, "train_steps_per_s": 5.0, "parameters": {"trainable": 9}})
  write_run(tmp_path, "v", 2, '{"metrics": {"auc": NaN}, "train_steps_per_s": 5.0}')
  records = aggregate.write_tables(str(tmp_path))
  assert [(r["seed"], r["status"]) for r in records] == [(0, "done"), (1, "done"), (2, "failed")]
  table = (tmp_path / "results.md").read_text().splitlines()
  assert "| v | ctr | hybrid | 2 | 0.6500 ± 0.0707 | 5.0 | 9 |" in table
  assert "| v (seed 2) | **failed**: non-finite metrics in results.json: auc=nan | | | | | |" in table
  assert "nan" not in (tmp_path / "results.csv").read_text().lower()


def test_recjax_traceback_shows_the_stack_of_a_user_error(tmp_path, monkeypatch):
  monkeypatch.setenv("RECJAX_TRACEBACK", "1")
  with pytest.raises(UserError, match=r"^--alpha=2.0 must lie strictly between 0 and 1$"):
    aggregate.invoke([f"--sweep_dir={tmp_path}", "--alpha=2"])
  with pytest.raises(UserError, match=r"^--parallel=0: at least 1 run at a time$"):
    sweep.invoke([f"--config={CONFIG}", "--sweep=configs/sweeps/zoo.py", f"--workdir={tmp_path}", "--parallel=0"])


# --- As a user runs them: python -m launch.sweep / launch.aggregate ------------------------------------------------

def _cli(module, *argv, env=None, timeout=300) -> subprocess.CompletedProcess:
  """`python -m module argv...` from the checkout; on a timeout its whole process group (a sweep's runs too) is
  killed, so nothing is left training."""
  with subprocess.Popen([sys.executable, "-m", module, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                        start_new_session=True) as process:
    try:
      stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      os.killpg(process.pid, signal.SIGKILL)
      raise
  return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# (id, module, argv, the whole of stderr; {t}: the test's tmp_path)
SUBPROCESS = [
    ("sweep_file_missing", "launch.sweep",
     [f"--config={CONFIG}", "--sweep=configs/sweeps/nope.py", "--workdir={t}/out"],
     "error: sweep file 'configs/sweeps/nope.py' does not exist\n"),
    ("sweep_seeds_repeat", "launch.sweep", [f"--config={CONFIG}", "--sweep={t}/sweep.py", "--workdir={t}/out"],
     "error: {t}/sweep.py: seeds repeat: [1] in [0, 1, 1]\n"),
    ("sweep_devices_per_run_more_than_visible", "launch.sweep",   # Lists the devices for real: 4 forced CPU ones.
     [f"--config={CONFIG}", "--sweep={t}/ok.py", "--workdir={t}/out", "--devices_per_run=5"],
     "error: --devices_per_run=5: only 4 cpu device(s) are visible\n"),
    ("sweep_bad_flag_value", "launch.sweep",
     [f"--config={CONFIG}", "--sweep={t}/ok.py", "--workdir={t}/out", "--parallel=two"],
     "error: flag --parallel=two: invalid literal for int() with base 10: 'two'\n"),
    ("sweep_workdir_under_a_file", "launch.sweep",
     [f"--config={CONFIG}", "--sweep={t}/ok.py", "--workdir={t}/file/out"],
     "error: Not a directory: '{t}/file/out'\n"),
    ("aggregate_sweep_dir_missing", "launch.aggregate", ["--sweep_dir={t}/none"],
     "error: --sweep_dir={t}/none does not exist\n"),
    ("aggregate_alpha", "launch.aggregate", ["--sweep_dir={t}", "--alpha=1.5"],
     "error: --alpha=1.5 must lie strictly between 0 and 1\n"),
    ("aggregate_results_json_corrupt", "launch.aggregate", ["--sweep_dir={t}/runs"],
     "error: {t}/runs/v/seed_0/results.json is not valid JSON (Expecting value: line 1 column 1 (char 0))\n"),
    ("aggregate_sweep_dir_is_a_file", "launch.aggregate", ["--sweep_dir={t}/file"],
     "error: --sweep_dir={t}/file is a file, not a sweep directory\n"),
    ("aggregate_unknown_flag", "launch.aggregate", ["--sweep_dir={t}", "--metric=auc"],
     "error: Unknown command line flag 'metric'. Did you mean: metrics ?\n"),
]


@pytest.mark.parametrize("module,argv,stderr", [c[1:] for c in SUBPROCESS], ids=[c[0] for c in SUBPROCESS])
def test_subprocess(tmp_path, module, argv, stderr):
  (tmp_path / "sweep.py").write_text(returning("dict(variants=[dict(name='a', preset='smoke')], seeds=(0, 1, 1))"))
  (tmp_path / "ok.py").write_text(AB_SWEEP)
  (tmp_path / "file").write_text("")
  write_run(tmp_path / "runs", "v", 0, results="")
  # Should a sweep start a run after all, it writes its data under tmp_path.
  safe = [f"--config.data.data_dir={tmp_path}/tfds"] if module == "launch.sweep" else []
  result = _cli(module, *[a.format(t=tmp_path) for a in argv], *safe, timeout=60)   # Errors come in seconds.
  assert (result.returncode, result.stderr) == (1, stderr.format(t=tmp_path))
  assert not (tmp_path / "out").exists()


def test_subprocess_a_bug_keeps_its_traceback(tmp_path):
  (tmp_path / "sweep.py").write_text("def get_sweep(arg=None):\n  return 1 / 0\n")
  result = _cli("launch.sweep", f"--config={CONFIG}", f"--sweep={tmp_path / 'sweep.py'}", f"--workdir={tmp_path}/o",
                f"--config.data.data_dir={tmp_path}/tfds", timeout=60)
  assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
  assert result.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero"
  assert "error:" not in result.stderr


def test_subprocess_recjax_traceback(tmp_path):
  result = _cli("launch.aggregate", f"--sweep_dir={tmp_path}", "--alpha=0", env={"RECJAX_TRACEBACK": "1"},
                timeout=60)
  assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
  assert result.stderr.splitlines()[-1] == "rec_jax.errors.UserError: --alpha=0.0 must lie strictly between 0 and 1"


# --- REAL: one sweep of configs/synthetic.py:smoke ----------------------------------------------------------------

REAL_SWEEP = """
def get_sweep(arg=None):
  return dict(seeds=(0,), baseline="base", variants=[dict(name="base", preset="smoke"),
              dict(name="typo", preset="smoke", overrides={"model.crosss": "deepfm"})])
"""
# The smoke preset, smaller still: no text tower, 10 steps.
FAST = ["--config.model.use_text=False", "--config.train.num_steps=10", "--config.eval.every_steps=10",
        "--config.checkpoint.every_steps=10"]


def _process(result: subprocess.CompletedProcess) -> dict:
  return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


def _run_real_sweep(root, tfds_dir) -> dict:
  """The command a user types, step by step: (1) the sweep: `base` trains, `typo` is refused by rec_jax.main;
  (2) the same sweep with one more override; (3) `--only=base` again, with a stale failed.json planted beside
  base's results.json; (4) launch.aggregate. Each step's process and the files after it."""
  (root / "sweep.py").write_text(REAL_SWEEP)
  out = root / "out"
  base, typo = out / "base" / "seed_0", out / "typo" / "seed_0"
  command = [f"--config={CONFIG}", f"--sweep={root / 'sweep.py'}", f"--workdir={out}",
             f"--config.data.data_dir={tfds_dir}", *FAST]
  steps = {"out": str(out), "first": _process(_cli("launch.sweep", *command))}
  steps["sweep.json"] = (out / "sweep.json").read_text()
  steps["results.json"] = (base / "results.json").read_text()
  steps["typo failed.json"] = json.loads((typo / "failed.json").read_text())
  steps["other"] = _process(_cli("launch.sweep", *command, "--config.train.learning_rate=0.1"))
  steps["after other"] = {"sweep.json": (out / "sweep.json").read_text(), "base": sorted(os.listdir(base)),
                          "results.json": (base / "results.json").read_text(),
                          "typo failed.json": json.loads((typo / "failed.json").read_text())}
  (base / "failed.json").write_text(json.dumps({"exit_code": 1, "error": "error: an earlier attempt"}))
  steps["again"] = _process(_cli("launch.sweep", *command, "--only=base"))
  steps["base after again"] = sorted(os.listdir(base))
  steps["aggregate"] = _process(_cli("launch.aggregate", f"--sweep_dir={out}"))
  with open(out / "runs.csv") as f:
    steps["runs.csv"] = f.read()
  return steps


@pytest.fixture(scope="module")
def real(tmp_path_factory, tfds_dir):
  """The real sweep's steps, run once per test session: the first xdist worker to get here runs them, under a lock
  in the session's shared temporary directory; the other reads what it wrote. (xdist_group would do, but does not
  group with pytest 9.2 and xdist 3.8: xdist sets item._nodeid, which pytest 9's nodeid no longer reads.)"""
  base = tmp_path_factory.getbasetemp()
  shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "launch_real_sweep"
  shared.mkdir(exist_ok=True)
  done = shared / "steps.json"
  with open(shared / ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():
      done.write_text(json.dumps(_run_real_sweep(shared, tfds_dir)))
  return json.loads(done.read_text())


def _typo_error() -> str:
  """rec_jax.main's own line for the unknown key (its close-key suggestions follow the config)."""
  return "error: " + override_errors(["rec_jax.main", f"--config={CONFIG}:smoke", "--config.model.crosss=deepfm"])[0]


REAL = ["first_sweep_exits_1_naming_the_failed_run", "unknown_key_recorded_in_failed_json",
        "other_override_refused_in_one_line", "refusal_touches_nothing", "rerun_skips_and_drops_stale_failed_json",
        "aggregate_tables_done_and_failed"]


@pytest.mark.parametrize("case", REAL)
def test_real(real, case):
  out = real["out"]
  if case == "first_sweep_exits_1_naming_the_failed_run":
    first = real["first"]
    assert one_error(first["returncode"], first["stderr"]) == (
        "1 of 2 runs not finished (1 failed); the summary line above names them")
    assert first["stdout"].splitlines()[-1] == f"1/2 runs finished; failed: {out}/typo/seed_0 ({_typo_error()})"
    assert [json.loads(line)["status"] for line in first["stdout"].splitlines()[:-1]] == ["done", "failed"]
  elif case == "unknown_key_recorded_in_failed_json":
    failure = real["typo failed.json"]
    assert (failure["exit_code"], failure["error"]) == (1, _typo_error())
  elif case == "other_override_refused_in_one_line":
    other = real["other"]
    assert one_error(other["returncode"], other["stderr"]) == (
        f"{out} holds another sweep ({out}/sweep.json): runs' overrides differ: train.learning_rate: <absent> -> "
        "0.1; use a new --workdir or the same command")
    assert other["stdout"] == ""
  elif case == "refusal_touches_nothing":
    after = real["after other"]
    assert after["sweep.json"] == real["sweep.json"] and after["results.json"] == real["results.json"]
    assert "failed.json" not in after["base"] and after["typo failed.json"] == real["typo failed.json"]
  elif case == "rerun_skips_and_drops_stale_failed_json":
    again = real["again"]
    assert again["returncode"] == 0 and "error:" not in again["stderr"], again["stderr"]
    lines = again["stdout"].splitlines()
    assert lines == [json.dumps({"run": f"{out}/base/seed_0", "seconds": json.loads(lines[0])["seconds"],
                                 "devices": {}, "status": "skipped (finished before)"}), "1/1 runs finished"]
    assert "failed.json" not in real["base after again"] and "results.json" in real["base after again"]
  elif case == "aggregate_tables_done_and_failed":
    result = real["aggregate"]
    assert result["returncode"] == 0, result["stderr"]
    lines = result["stdout"].splitlines()
    assert any(line.startswith("| base (baseline) | ctr | hybrid | 1 | 0.") for line in lines), result["stdout"]
    assert f"| typo (seed 0) | **failed**: {_typo_error()} | | | | |" in lines   # Its own table: task unknown.
    assert [row.split(",")[:3] for row in real["runs.csv"].splitlines()[1:]] == [["base", "0", "done"],
                                                                                ["typo", "0", "failed"]]
  else:
    raise AssertionError(f"no such case {case}")
