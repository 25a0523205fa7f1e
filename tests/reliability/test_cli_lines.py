"""The reliability corpus, the command line as a user sees it (real subprocesses): a user error is exactly one
`error:` line on stderr and exit code 1, no traceback; RECJAX_TRACEBACK=1 shows its stack; a bug of ours keeps its
traceback; a finished run says where its results and data cache are."""

import os
import subprocess
import sys

import pytest

from rec_jax import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args, env=None):
  return subprocess.run([sys.executable, "-m", "rec_jax.main", *args], cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, **(env or {})}, timeout=300)


def _error_lines(stderr: str):
  return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("args,expected", [
    (["--config.train.num_steps=0"], "error: train.num_steps=0 must be >= 1"),
    (["--config.train.num_steps=ten"],
     "error: flag --config.train.num_steps=ten: invalid literal for int() with base 10: 'ten'"),
    (["--config.model.cross=fmm"], "error: unknown feature cross 'fmm'; did you mean 'fm', 'deepfm', 'xdeepfm'? "
     "Valid: autoint, dcn, dcnv2, deepfm, dnn, finalmlp, fm, lr, xdeepfm"),
    # A dict-valued option's entry (a regex key: absl's own parsing of it was a SyntaxError traceback).
    (["--config.train.lr_multipliers.^text/=-1"], "error: train.lr_multipliers['^text/']=-1.0 must be >= 0"),
], ids=["range", "flag-type", "registry-name", "dict-entry"])
def test_a_user_error_is_one_line_and_exit_code_1(args, expected, tmp_path):
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={tmp_path / 'run'}", *args)
  assert r.returncode == 1
  assert r.stderr.strip().splitlines()[-1] == expected and _error_lines(r.stderr) == [expected], r.stderr[-2000:]
  assert "Traceback" not in r.stderr


def test_recjax_traceback_shows_the_stack_of_a_user_error(tmp_path):
  r = _run("--config=configs/synthetic.py:smoke", f"--workdir={tmp_path / 'run'}", "--config.train.num_steps=0",
           env={"RECJAX_TRACEBACK": "1"})
  assert r.returncode == 1
  assert "Traceback" in r.stderr and "rec_jax.errors.UserError: train.num_steps=0 must be >= 1" in r.stderr


def test_a_missing_workdir_flag_is_one_line(tmp_path):
  r = _run("--config=configs/synthetic.py:smoke")
  assert r.returncode == 1 and "Traceback" not in r.stderr
  assert _error_lines(r.stderr) == ["error: flag --workdir=None: Flag --workdir must have a value other than None."]


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
  """A KeyError raised by our code is a bug, not a user error: it is not turned into an `error:` line."""
  from rec_jax import train

  def buggy(config, workdir):
    del config, workdir
    return {}["text_slot"]

  monkeypatch.setattr(train, "train_and_evaluate", buggy)
  monkeypatch.chdir(ROOT)
  with pytest.raises(KeyError, match="text_slot"):
    main.invoke(["--config=configs/synthetic.py:smoke", f"--workdir={tmp_path / 'run'}"])


def test_os_errors_are_one_line_naming_the_path():
  from rec_jax.errors import describe_os_error
  assert main.error_line(PermissionError(13, "Permission denied", "/data/run")) == \
      "error: Permission denied: '/data/run'"
  assert describe_os_error(OSError(28, "No space left on device", "/data/run/checkpoints")) == \
      "No space left on device: '/data/run/checkpoints'"
  assert main.error_line(ZeroDivisionError("division by zero")) is None
