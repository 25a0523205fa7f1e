"""The reliability corpus, kills: one run of `python -m rec_jax.main` killed with SIGKILL six times, at the points
where a kill does the most harm (in the middle of a training step, while an async checkpoint save is being
written, in the middle of an evaluation), spread over the whole run (the last one in the final evaluation of the
test split), each time resumed by the same command; its final results.json and validation log equal an
uninterrupted run's."""

import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUM_STEPS = 60
# No text tower: each of the eight process starts would compile BERT again (the tests run without a persistent
# compilation cache, tests/conftest.py), and what a kill can break (steps, async saves, evaluation, resume) is the
# same without it; the text tower's exact resume is tests/test_train.py's.
OVERRIDES = [f"--config.train.num_steps={NUM_STEPS}", "--config.eval.every_steps=10",
             "--config.checkpoint.every_steps=10", "--config.train.log_every=10", "--config.model.use_text=False"]
TIMING = ("wall_time_s", "train_seconds", "eval_seconds", "final_eval_seconds", "train_steps_per_s")
# Where each kill lands, in order (two rounds of the three harmful points), and the checkpoint the run must have
# committed before that kill is armed, so the kills spread over the whole run (the last one hits the final
# evaluation of the test split, after step 60's checkpoint).
KILLS = (("step", 0), ("save", 10), ("eval", 20), ("step", 30), ("save", 40), ("eval", 60))


def _start(workdir: str, tfds_dir: str, log) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "rec_jax.main", "--config=configs/synthetic.py:smoke",
                           f"--workdir={workdir}", f"--config.data.data_dir={tfds_dir}", *OVERRIDES],
                          cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RECJAX_PROGRESS": "1"})


class _Log:
  """What the process has written so far (read incrementally)."""

  def __init__(self, path: str):
    self.path, self.text, self._offset = path, "", 0

  def update(self) -> str:
    with open(self.path, "rb") as f:
      f.seek(self._offset)
      new = f.read()
    self._offset += len(new)
    self.text += new.decode(errors="replace")
    return self.text


def _saving(workdir: str) -> bool:
  for manager in ("latest", "best"):
    directory = os.path.join(workdir, "checkpoints", manager)
    if os.path.isdir(directory) and any("orbax-checkpoint-tmp" in n for n in os.listdir(directory)):
      return True
  return False


def _phase(text: str) -> str:
  """The bar the process last drew: 'eval' or 'train' (or '' before either)."""
  positions = {p: text.rfind(f"{p}:") for p in ("eval", "train")}
  last = max(positions, key=positions.get)
  return last if positions[last] >= 0 else ""


def _latest(workdir: str) -> int:
  directory = os.path.join(workdir, "checkpoints", "latest")
  steps = [int(s) for s in os.listdir(directory) if s.isdigit()] if os.path.isdir(directory) else []
  return max(steps, default=0)


def _kill_at(point: str, after: int, proc: subprocess.Popen, log: _Log, workdir: str) -> str:
  """Polls the process until it has committed the checkpoint of step `after` and then is at `point` (a save in
  progress, or a bar drawn since: a training step or an evaluation), then SIGKILLs it; returns where it was
  ('finished' if it ended first)."""
  armed_at = None
  while proc.poll() is None:
    text = log.update()
    if armed_at is None and _latest(workdir) >= after:
      armed_at = len(text)
    if armed_at is not None:
      since = text[armed_at:]
      at = _saving(workdir) if point == "save" else (f"{point if point == 'eval' else 'train'}:" in since
                                                     and _phase(since) == ("eval" if point == "eval" else "train"))
      if at:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return f"{point} (after checkpoint {_latest(workdir)})"
    time.sleep(0.002)
  return "finished"


def _results(workdir: str) -> dict:
  with open(os.path.join(workdir, "results.json")) as f:
    return {k: v for k, v in json.load(f).items() if k not in TIMING}


def test_kill_nine_campaign_equals_an_uninterrupted_run(tmp_path, tfds_dir):
  clean = str(tmp_path / "clean")
  with open(tmp_path / "clean.log", "w") as log:
    assert _start(clean, tfds_dir, log).wait(timeout=600) == 0, (tmp_path / "clean.log").read_text()[-3000:]
  workdir = str(tmp_path / "killed")
  landed = []
  for i, (point, after) in enumerate(KILLS):
    path = str(tmp_path / f"attempt_{i}.log")
    with open(path, "w") as out:
      proc = _start(workdir, tfds_dir, out)
      landed.append(_kill_at(point, after, proc, _Log(path), workdir))
  with open(tmp_path / "final.log", "w") as log:
    code = _start(workdir, tfds_dir, log).wait(timeout=600)
  final_log = (tmp_path / "final.log").read_text()
  print("kills landed:", landed)   # shown with -s (pytest -rP): where each kill hit
  assert code == 0, final_log[-3000:]
  assert "finished" not in landed, landed   # every kill hit a running process
  assert [w.split()[0] for w in landed] == [point for point, _ in KILLS], landed
  assert not os.path.exists(os.path.join(workdir, "results.json.tmp"))
  assert _results(workdir) == _results(clean), landed
  # The resumed run's validation log (with the training loss of each evaluated step) is the uninterrupted one's.
  logs = [[json.loads(line) for line in open(os.path.join(path, "metrics.jsonl"))] for path in (clean, workdir)]
  assert logs[0] == logs[1] and [m["step"] for m in logs[0]] == list(range(10, NUM_STEPS + 1, 10))
  assert "orbax-checkpoint-tmp" not in final_log and "Traceback" not in final_log
