"""The reliability corpus, serving: `python -m rec_jax.export`, `python -m rec_jax.serve` (its start and its HTTP
requests) and `python -m rec_jax.monitor` on bad input. Each case asserts its exact outcome: one `error:` line and
exit code 1 naming the input and the fix; a bad request a 4xx JSON answer naming the `field`; a damaged export the
file, found by the sizes and digests its manifest records. One export of the session's trained `:smoke` run is
shared; requests run against its app in this process (ASGI calls, no sockets)."""

import asyncio
import fcntl
import json
import os
import shutil
import socket

import numpy as np
import pytest

from rec_jax import export, monitor, serve
from rec_jax.errors import UserError
from rec_jax.serving.bundle import Bundle
from rec_jax.serving.drift import WindowLog
from rec_jax.serving.export_run import describe
from rec_jax.serving.item_store import ItemStore
from rec_jax.serving.request_features import RequestFeatures

pytestmark = pytest.mark.xdist_group("trained_smoke_run")
def _case_id(value):
  """A case's name as its test id (not its long expected line)."""
  return "line" if str(value).startswith("error") else value


HELP = {name: f" (python -m rec_jax.{name} --help lists the flags)" for name in ("export", "serve", "monitor")}


@pytest.fixture(scope="module")
def exported(trained_smoke_run, tmp_path_factory):
  from rec_jax.analysis.loaded_run import load_run
  from rec_jax.serving.export_run import write_export
  out = str(tmp_path_factory.mktemp("serving_cases") / "export")
  write_export(load_run(trained_smoke_run), out)
  return out


@pytest.fixture(scope="module")
def bundle(exported):
  return Bundle(exported)


@pytest.fixture(scope="module")
def app(exported, tmp_path_factory):
  journal = str(tmp_path_factory.mktemp("serving_app") / "journal.jsonl")
  yield serve.build(serve.parse([f"--export={exported}", f"--items_journal={journal}"]))
  tasks = asyncio.all_tasks(LOOP)   # the batchers' loops, stopped as the server's shutdown stops them
  for task in tasks:
    task.cancel()
  LOOP.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def _cli(main, argv, capsys):
  """(exit code, the `error:` lines on stderr) of a command line run in this process."""
  capsys.readouterr()
  try:
    code = main(argv)
  except SystemExit as e:
    code = e.code
  err = capsys.readouterr().err
  return code, [line for line in err.splitlines() if line.startswith("error:")]


def _serve_build(argv, capsys):
  """`python -m rec_jax.serve ARGV` up to the point the port would open: (exit code, error lines)."""
  def main(argv):
    from rec_jax.main import call_reporting
    return call_reporting(lambda: serve.build(serve.parse(argv)))[1]
  return _cli(main, argv, capsys)


def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip_a_bit(path):
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0x10]))


# --- python -m rec_jax.export ----------------------------------------------------------------------------------------

def _fake_run(tmp_path, config="{}"):
  """A directory that passes for a run's workdir as far as the command's checks before loading go."""
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(config)
  return run


@pytest.mark.parametrize("case,expected", [
    ("no-flags", "error: the following arguments are required: --workdir, --out" + HELP["export"]),
    ("checkpoint-foo", "error: argument --checkpoint: invalid choice: 'foo' (choose from 'best', 'latest')"
     + HELP["export"]),
    ("unknown-flag", "error: unrecognized arguments: --colour=red" + HELP["export"]),
    ("workdir-missing", "error: --workdir={t}/nope does not exist: give the workdir of a trained run"),
    ("workdir-file", "error: --workdir={t}/file is a file, not a run's workdir"),
    ("workdir-not-a-run", "error: --workdir={t}/empty is not a rec_jax workdir (it has no config.json): give the "
     "workdir of a trained run"),
    ("config-not-object", "error: {t}/run/config.json holds no config object (a JSON list): the workdir is damaged"),
    ("config-truncated", "error: {t}/run/config.json is not valid JSON (Expecting property name enclosed in double "
     "quotes: line 1 column 2 (char 1)): the workdir is damaged"),
    ("run-in-training", "error: {t}/run is in use by a training process (pid 4242); export when it has finished or "
     "been stopped"),
    ("out-empty", "error: --out is empty: give the export directory to write"),
    ("out-inside-workdir", "error: --out={t}/run/export is inside the run's workdir {t}/run; export to a directory "
     "outside it"),
    ("out-is-workdir", "error: --out={t}/run is inside the run's workdir {t}/run; export to a directory outside it"),
    ("out-holds-workdir", "error: --out={t} holds the run's workdir {t}/run; export to a new directory outside it"),
    ("out-a-file", "error: --out={t}/file exists and is not an export directory; pick a new or empty directory"),
    ("out-not-empty", "error: --out={t}/full exists and is not an export directory; pick a new or empty directory"),
    ("out-under-a-file", "error: cannot write --out={t}/file/export: Not a directory: '{t}/file/export.partial-{pid}'; "
     "pick a directory you can write"),
    # /sys refuses a new directory even to root (the tests may run as root, where chmod would not).
    ("out-unwritable", "error: cannot write --out=/sys/rec_jax_export: Operation not permitted: "
     "'/sys/rec_jax_export.partial-{pid}'; pick a directory you can write"),
], ids=_case_id)
def test_export_command_line(case, expected, tmp_path, capsys):
  """Every one of these is refused before the run is loaded (no JAX work)."""
  t = tmp_path
  (t / "file").write_text("x")
  (t / "empty").mkdir()
  (t / "full").mkdir()
  (t / "full" / "notes.txt").write_text("x")
  run = _fake_run(t, "[1, 2]" if case == "config-not-object" else "{bad" if case == "config-truncated" else "{}")
  out = {"out-empty": "", "out-inside-workdir": run / "export", "out-is-workdir": run, "out-holds-workdir": t,
         "out-a-file": t / "file", "out-not-empty": t / "full", "out-under-a-file": t / "file" / "export",
         "out-unwritable": "/sys/rec_jax_export"}.get(case, t / "export")
  workdir = {"workdir-missing": t / "nope", "workdir-file": t / "file", "workdir-not-a-run": t / "empty"}.get(case, run)
  argv = {"no-flags": [], "checkpoint-foo": [f"--workdir={run}", f"--out={out}", "--checkpoint=foo"],
          "unknown-flag": [f"--workdir={run}", f"--out={out}", "--colour=red"]}.get(
              case, [f"--workdir={workdir}", f"--out={out}"])
  if case == "run-in-training":
    with open(run / ".run.lock", "a+") as held:
      fcntl.flock(held, fcntl.LOCK_EX)
      held.write("4242")
      held.flush()
      got = _cli(export.main, argv, capsys)
  else:
    got = _cli(export.main, argv, capsys)
  assert got == (1, [expected.format(t=t, pid=os.getpid())])
  assert not (t / "export").exists() and not [n for n in os.listdir(t) if ".partial-" in n]


def test_export_manifest_records_every_file_and_an_unfinished_run_says_so(exported, bundle):
  manifest = bundle.manifest
  files = sorted(os.path.relpath(os.path.join(d, n), exported) for d, _, names in os.walk(exported) for n in names)
  assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
  assert manifest["finished"] is True and "note:" not in describe(manifest, exported)
  unfinished = {**manifest, "finished": False, "workdir": "/runs/a", "checkpoint": "best", "step": 20}
  assert describe(unfinished, exported).splitlines()[-1] == (
      "note: /runs/a has no results.json (the run has not finished, or it failed): this is its best checkpoint so "
      "far (step 20), and the manifest records no test metrics")


# --- python -m rec_jax.serve: its start ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,expected", [
    ([], "error: the following arguments are required: --export"),
    (["--export=E", "--port=abc"], "error: argument --port: invalid int value: 'abc'"),
    (["--export=E", "--port=70000"], "error: --port=70000: expected 0..65535"),
    (["--export=E", "--max_batch=0"], "error: --max_batch=0: must be a positive number"),
    (["--export=E", "--window_rows=-5"], "error: --window_rows=-5: must be a positive number"),
    (["--export=E", "--window_seconds=nan"], "error: --window_seconds=nan: must be a positive number"),
    (["--export="], "error: --export is empty: give an export directory (python -m rec_jax.export)"),
    (["--export=E", "--log_level=loud"], "error: argument --log_level: invalid choice: 'loud' (choose from "
     "'critical', 'error', 'warning', 'info', 'debug')"),
], ids=["no-flags", "port-not-int", "port-range", "max-batch", "window-rows", "window-seconds-nan", "export-empty",
        "log-level"])
def test_serve_flags(argv, expected, capsys):
  assert _cli(serve.main, argv, capsys) == (1, [expected + HELP["serve"]])


DAMAGE = {"deleted": os.remove, "truncated": _truncate, "bit-flipped": _flip_a_bit}
FILES = ["items.npz", "users.npz", "weights/model.npz", "functions/score.jaxexport", "functions/text_vectors.jaxexport",
         "tokenizer/tokenizer.json", "feature_processor.json", "reference.json", "config.json"]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_export_file_is_one_error_naming_it(name, damage, exported, tmp_path, capsys):
  copy = tmp_path / "export"
  shutil.copytree(exported, copy)
  path = copy / name
  size = os.path.getsize(path)
  DAMAGE[damage](path)
  what = {"deleted": "is missing: the export is incomplete",
          "truncated": f"is damaged: {size // 2} bytes, the manifest records {size}",
          "bit-flipped": "is damaged: its sha256 differs from the manifest's"}[damage]
  assert _serve_build([f"--export={copy}"], capsys) == (1, [f"error: {path} {what}; export the run again"])


def _edit_manifest(copy, edit):
  path = copy / "manifest.json"
  manifest = json.loads(path.read_text())
  edit(manifest)
  path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("case,expected", [
    ("missing", "error: --export={t}/nope does not exist; write an export with `python -m rec_jax.export "
     "--workdir=RUN --out=DIR`"),
    ("a-file", "error: --export={t}/file is a file, not an export directory"),
    ("no-manifest", "error: {t}/export is not a rec_jax export (no manifest.json); write one with `python -m "
     "rec_jax.export --workdir=RUN --out=DIR`"),
    ("manifest-truncated", "error: {t}/export/manifest.json is damaged: not valid JSON ("),
    ("manifest-bit-flipped", "error: {t}/export/manifest.json is damaged: its content differs from the digest it "
     "records; export the run again"),
    ("manifest-edited", "error: {t}/export/manifest.json is damaged: its content differs from the digest it records; "
     "export the run again"),
    ("manifest-a-list", "error: {t}/export/manifest.json holds no export manifest (a JSON list); export the run "
     "again"),
    ("manifest-other-format", "error: {t}/export/manifest.json has format 'rec_jax.export/0'; this rec_jax reads "
     "'rec_jax.export/1'"),
    ("manifest-lacks-signature", "error: {t}/export/manifest.json is damaged: it lacks signature; export the run "
     "again"),
], ids=_case_id)
def test_a_bad_export_directory_is_one_error(case, expected, exported, tmp_path, capsys):
  t = tmp_path
  (t / "file").write_text("x")
  copy = t / "export"
  shutil.copytree(exported, copy)
  manifest = copy / "manifest.json"
  if case == "no-manifest":
    os.remove(manifest)
  elif case == "manifest-truncated":
    _truncate(manifest)
  elif case == "manifest-bit-flipped":
    text = manifest.read_text()
    manifest.write_text(text.replace('"step": ', '"step": 1', 1))   # still valid JSON: only the digest tells
  elif case == "manifest-edited":
    _edit_manifest(copy, lambda m: m["functions"]["score"].update(file="functions/other.jaxexport"))
  elif case == "manifest-a-list":
    manifest.write_text("[1]")
  elif case == "manifest-other-format":
    _edit_manifest(copy, lambda m: m.update(format="rec_jax.export/0"))
  elif case == "manifest-lacks-signature":   # an export from before the manifest recorded its digest
    _edit_manifest(copy, lambda m: [m.pop("signature"), m.pop("sha256")])
  export_dir = {"missing": t / "nope", "a-file": t / "file"}.get(case, copy)
  code, lines = _serve_build([f"--export={export_dir}"], capsys)
  assert code == 1 and len(lines) == 1 and lines[0].startswith(expected.format(t=t)), lines


@pytest.mark.parametrize("case,expected", [
    ("journal-a-directory", "error: --items_journal={t} is a directory; give a file"),
    ("journal-unwritable", "error: --items_journal=/sys/journal.jsonl cannot be written (Permission denied: "
     "'/sys/journal.jsonl'); give a file you can write"),
    ("monitor-log-a-directory", "error: --monitor_log={t} is a directory; give a file"),
    ("monitor-log-unwritable", "error: --monitor_log=/sys/rec_jax/monitor.jsonl cannot be written (Operation not "
     "permitted: '/sys/rec_jax'); give a file you can write"),
], ids=_case_id)
def test_files_the_service_cannot_write_fail_its_start(case, expected, exported, tmp_path, capsys):
  flag = {"journal-a-directory": f"--items_journal={tmp_path}", "journal-unwritable": "--items_journal=/sys/journal.jsonl",
          "monitor-log-a-directory": f"--monitor_log={tmp_path}",
          "monitor-log-unwritable": "--monitor_log=/sys/rec_jax/monitor.jsonl"}[case]
  assert _serve_build([f"--export={exported}", flag], capsys) == (1, [expected.format(t=tmp_path)])


def test_a_port_in_use_is_one_error_before_the_export_is_loaded(tmp_path, capsys):
  with socket.socket() as busy:
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    # The export does not exist: the port is checked first, so the error is about the port.
    assert _cli(serve.main, [f"--export={tmp_path}/nope", f"--port={port}"], capsys) == (
        1, [f"error: --port={port}: 127.0.0.1:{port} is already in use (another server?); stop it or pick another "
            "--port"])


NEW_ITEM = {"item": "n-1", "title": "red running shoes", "description": "light", "category": "shoes", "brand": "b",
            "price": 10.0}


@pytest.mark.parametrize("content,expected", [
    ('{"items": [{"item": "n-1", "category": "c", "brand": "b", "price": "x"}]}\n', "error: {j} line 1: {j}:1.items[0].price: expected a finite "
     "number, got 'x'; fix or remove the line"),
    ("null\n", "error: {j} line 1 is not an item change (TypeError: 'NoneType' object is not subscriptable); fix or "
     "remove the line"),
    ('{"items": 5}\n', "error: {j} line 1 is not an item change (TypeError: items is a int, not a list); fix or "
     "remove the line"),
    ('{"items": [{"item": "n-1"}\n' + json.dumps({"items": [NEW_ITEM]}) + "\n",
     "error: {j} line 1 is not an item change (JSONDecodeError: Expecting ',' delimiter: line 1 column 27 (char 26)); "
     "fix or remove the line"),
    (b"\xff\xfe\n", "error: {j} line 1 is not an item change (JSONDecodeError: Expecting value: line 1 column 1 "
     "(char 0)); fix or remove the line"),
], ids=["bad-value", "null", "items-not-a-list", "damaged-middle-line", "binary"])
def test_a_damaged_items_journal_is_one_error_naming_the_line(content, expected, bundle, tmp_path):
  journal = tmp_path / "journal.jsonl"
  journal.write_bytes(content if isinstance(content, bytes) else content.encode())
  with pytest.raises(UserError) as e:
    ItemStore(bundle, RequestFeatures(bundle.processor), str(journal))
  assert f"error: {e.value}" == expected.format(j=journal)


def test_a_journal_line_cut_short_by_a_stop_is_removed_with_a_warning(bundle, tmp_path, caplog):
  journal = tmp_path / "journal.jsonl"
  complete = json.dumps({"items": [NEW_ITEM]}) + "\n"
  journal.write_text(complete + '{"items": [{"item": "n-2", "ti')
  store = ItemStore(bundle, RequestFeatures(bundle.processor), str(journal))
  assert "n-1" in store.rows and "n-2" not in store.rows
  assert f"{journal} line 2 is cut short (the server stopped while appending it; the change was never applied or " \
         "answered): removing it" in caplog.text
  assert journal.read_text() == complete   # the next change is appended after the complete lines


# --- python -m rec_jax.serve: requests -------------------------------------------------------------------------------

LOOP = asyncio.new_event_loop()   # one loop for the module: the app's batchers live on it


def _request(app, method, path, body=None, raw=None):
  """(status, JSON answer) of one request, as uvicorn would pass it to the ASGI app."""
  data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
  scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
           "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
           "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1),
           "server": ("127.0.0.1", 80)}
  messages = [{"type": "http.request", "body": data, "more_body": False}]
  sent = []

  async def receive():
    return messages.pop(0) if messages else {"type": "http.disconnect"}

  async def send(message):
    sent.append(message)

  LOOP.run_until_complete(app(scope, receive, send))
  assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
  return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


U, I = "u00001", "i00001"
ROW = {"user": U, "item": I, "context": {"hour": 3, "weekday": 2}}
ITEM = {"item": "new-1", "title": "red shoes", "description": "light", "category": "shoes", "brand": "b",
        "price": 10.0}
CONTEXT = "context features: hour, weekday"
BAD_REQUESTS = [
    # (id, method, path, JSON body or raw bytes, status, field, error after "<field>: ")
    ("not-json", "POST", "/recommend", b"{not json", 400, "body",
     "not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ("empty-body", "POST", "/recommend", b"", 400, "body", "not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ("not-utf8", "POST", "/recommend", b'{"user": "\xff"}', 400, "body",
     "not valid JSON ('utf-8' codec can't decode byte 0xff in position 10: invalid start byte)"),
    ("nested-too-deeply", "POST", "/recommend", b"[" * 100000 + b"]" * 100000, 400, "body", "nested too deeply"),
    ("unpaired-surrogate", "POST", "/items", b'{"items": [{"item": "\\udc00"}]}', 400, "body",
     "a string holds '\\udc00', an unpaired surrogate escape (not valid Unicode)"),
    ("too-large", "POST", "/recommend", b" " * (16 * 2 ** 20 + 1), 413, "body", "larger than 16777216 bytes"),
    ("a-list", "POST", "/recommend", [1, 2], 422, "body", "expected a JSON object, got list"),
    ("null", "POST", "/score", b"null", 422, "body", "expected a JSON object, got NoneType"),
    ("k-string", "POST", "/recommend", {"user": U, "k": "3"}, 422, "body.k", "expected an integer in [1, 1000], got '3'"),
    ("k-zero", "POST", "/recommend", {"user": U, "k": 0}, 422, "body.k", "expected an integer in [1, 1000], got 0"),
    ("k-negative", "POST", "/recommend", {"user": U, "k": -1}, 422, "body.k", "expected an integer in [1, 1000], got -1"),
    ("k-huge", "POST", "/recommend", {"user": U, "k": 10 ** 9}, 422, "body.k",
     "expected an integer in [1, 1000], got 1000000000"),
    ("k-float", "POST", "/recommend", {"user": U, "k": 2.0}, 422, "body.k", "expected an integer in [1, 1000], got 2.0"),
    ("k-bool", "POST", "/recommend", {"user": U, "k": True}, 422, "body.k", "expected an integer in [1, 1000], got True"),
    ("k-nan", "POST", "/recommend", b'{"k": NaN}', 422, "body.k", "expected an integer in [1, 1000], got nan"),
    ("user-infinity", "POST", "/recommend", b'{"user": Infinity}', 422, "body.user", "expected a user id, got inf"),
    ("user-object", "POST", "/recommend", {"user": {"id": 1}}, 422, "body.user", "expected a user id, got {'id': 1}"),
    ("unknown-field", "POST", "/recommend", {"user": U, "colour": 1}, 422, "body.colour",
     "unknown field; valid: context, exclude, exclude_seen, history, k, query, user, user_features"),
    ("query-to-a-model-without-search", "POST", "/recommend", {"user": U, "query": "shoes"}, 422, "body.query",
     "this model reads no search query; leave it out"),
    ("context-unknown", "POST", "/recommend", {"user": U, "context": {"colour": 1}}, 422, "body.context.colour",
     f"not a context feature; {CONTEXT}"),
    ("context-a-user-feature", "POST", "/recommend", {"user": U, "context": {"region": "north"}}, 422,
     "body.context.region", f"not a context feature (a user feature: give it in user_features); {CONTEXT}"),
    ("context-bad-value", "POST", "/recommend", {"user": U, "context": {"hour": "noon"}}, 422, "body.context.hour",
     "expected an integer, got 'noon'"),
    ("context-a-list", "POST", "/recommend", {"user": U, "context": [1]}, 422, "body.context",
     "expected a JSON object, got list"),
    ("exclude-seen-string", "POST", "/recommend", {"user": U, "exclude_seen": "yes"}, 422, "body.exclude_seen",
     "expected true or false"),
    ("exclude-not-a-list", "POST", "/recommend", {"user": U, "exclude": I}, 422, "body.exclude",
     "expected a list of item ids"),
    ("exclude-garbage", "POST", "/recommend", {"user": U, "exclude": [I, {"a": 1}]}, 422, "body.exclude[1]",
     "expected an item id, got {'a': 1}"),
    ("history-not-a-list", "POST", "/recommend", {"history": I}, 422, "body.history", "expected a list of item ids"),
    ("history-null-item", "POST", "/recommend", {"history": [I, None]}, 422, "body.history[1]",
     "expected a string or number, got None"),
    ("history-nan-item", "POST", "/recommend", b'{"history": ["i00001", NaN]}', 422, "body.history[1]",
     "expected a string or number, got nan"),
    ("user-feature-unknown", "POST", "/recommend", {"user": "new", "user_features": {"colour": "red"}}, 422,
     "body.user_features.colour", "not a user feature; user features: age_bucket, gender, region, device"),
    ("user-feature-a-list", "POST", "/recommend", {"user": "new", "user_features": {"region": [1]}}, 422,
     "body.user_features.region", "expected a string or number, got [1]"),
    ("score-no-rows", "POST", "/score", {"rows": []}, 422, "body.rows",
     "expected a non-empty list of {user, item, context} rows"),
    ("score-too-many-rows", "POST", "/score", {"rows": [ROW] * 10001}, 422, "body.rows",
     "at most 10000 rows per request, got 10001"),
    ("score-row-not-object", "POST", "/score", {"rows": [ROW, 1]}, 422, "body.rows[1]", "expected a JSON object, got int"),
    ("score-no-item", "POST", "/score", {"rows": [{"user": U}]}, 422, "body.rows[0].item",
     "missing: every row needs an item id"),
    ("score-unknown-item", "POST", "/score", {"rows": [{**ROW, "item": "nope"}]}, 404, "body.rows[0].item",
     "unknown item 'nope': add it with POST /items first"),
    ("score-item-object", "POST", "/score", {"rows": [{**ROW, "item": {"a": 1}}]}, 422, "body.rows[0].item",
     "expected an item id, got {'a': 1}"),
    ("score-context-missing", "POST", "/score", {"rows": [{"user": U, "item": I}]}, 422, "body.rows[0].context.hour",
     "missing: the model reads this context feature (context: hour, weekday)"),
    ("score-context-unknown", "POST", "/score", {"rows": [{**ROW, "context": {**ROW["context"], "colour": 5}}]}, 422,
     "body.rows[0].context.colour", f"not a context feature; {CONTEXT}"),
    ("score-context-not-integer", "POST", "/score", {"rows": [{**ROW, "context": {"hour": 3.5, "weekday": 2}}]}, 422,
     "body.rows[0].context.hour", "expected an integer, got 3.5"),
    ("score-query", "POST", "/score", {"rows": [{**ROW, "query": "x"}]}, 422, "body.rows[0].query",
     "this model reads no search query; leave it out"),
    ("items-empty", "POST", "/items", {"items": []}, 422, "body.items",
     "expected a non-empty list of items, each {item, <columns>}"),
    ("items-price-string", "POST", "/items", {"items": [{**ITEM, "price": "cheap"}]}, 422, "body.items[0].price",
     "expected a finite number, got 'cheap'"),
    ("items-price-nan", "POST", "/items", b'{"items": [{"item": "n", "category": "c", "brand": "b", "price": NaN}]}',
     422, "body.items[0].price", "expected a finite number, got nan"),
    ("items-price-missing", "POST", "/items", {"items": [{k: v for k, v in ITEM.items() if k != "price"}]}, 422,
     "body.items[0].price", "missing: an item needs every item feature (category, brand, price)"),
    ("items-title-number", "POST", "/items", {"items": [{**ITEM, "title": 5}]}, 422, "body.items[0].title",
     "expected a string, got 5"),
    ("items-category-object", "POST", "/items", {"items": [{**ITEM, "category": {"x": 1}}]}, 422,
     "body.items[0].category", "expected a string or number, got {'x': 1}"),
    ("items-unknown-column", "POST", "/items", {"items": [{**ITEM, "colour": "red"}]}, 422, "body.items[0].colour",
     "not an item column; item columns: brand, category, description, item, price, title"),
    ("items-no-id", "POST", "/items", {"items": [{k: v for k, v in ITEM.items() if k != "item"}]}, 422,
     "body.items[0].item", "missing: every item needs its id"),
    ("items-empty-id", "POST", "/items", {"items": [{**ITEM, "item": ""}]}, 422, "body.items[0].item",
     "expected a non-empty item id (a string or an integer), got ''"),
    ("items-bool-id", "POST", "/items", {"items": [{**ITEM, "item": True}]}, 422, "body.items[0].item",
     "expected a non-empty item id (a string or an integer), got True"),
    ("items-twice", "POST", "/items", {"items": [ITEM, ITEM]}, 422, "body.items[1].item",
     "item 'new-1' is listed twice (also body.items[0])"),
    ("get-a-post-endpoint", "GET", "/recommend", None, 405, "method",
     "not allowed here (Method Not Allowed); /recommend, /score and /items take POST, /healthz and /metrics GET"),
    ("post-a-get-endpoint", "POST", "/healthz", {}, 405, "method",
     "not allowed here (Method Not Allowed); /recommend, /score and /items take POST, /healthz and /metrics GET"),
    ("unknown-path", "GET", "/recomend", None, 404, "path",
     "no such endpoint; endpoints: /recommend, /score, /items, /healthz, /metrics"),
]


@pytest.mark.parametrize("method,path,body,status,field,error", [c[1:] for c in BAD_REQUESTS],
                         ids=[c[0] for c in BAD_REQUESTS])
def test_a_bad_request_is_a_4xx_naming_the_field(app, method, path, body, status, field, error):
  raw = body if isinstance(body, bytes) else None
  got = _request(app, method, path, None if raw is not None else body, raw)
  assert got == (status, {"error": f"{field}: {error}", "field": field})


def test_a_rejected_request_changes_nothing_and_good_ones_still_answer(app, bundle):
  """After the bad requests: no item was added by a rejected /items, and every endpoint answers."""
  status, health = _request(app, "GET", "/healthz")
  assert status == 200 and health["items"] == len(bundle.items["ids"])
  status, answer = _request(app, "POST", "/recommend", {"user": U, "k": 3, "context": {"hour": None}})
  assert status == 200 and len(answer["items"]) == 3 and answer["fallback"] is None
  status, scored = _request(app, "POST", "/score", {"rows": [ROW]})
  assert status == 200 and np.isfinite(scored["scores"][0])
  status, cold = _request(app, "POST", "/recommend", {"user": "üñí-new", "k": 2})
  assert status == 200 and cold["fallback"] == "popularity"


# --- python -m rec_jax.monitor ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def monitor_log(bundle, tmp_path_factory):
  """A monitor log of two windows, written as the service writes it."""
  path = str(tmp_path_factory.mktemp("monitor") / "monitor.jsonl")
  log = WindowLog(bundle.reference, bundle.signature, path, window_rows=20, window_seconds=3600,
                  model_version=bundle.version)
  rows = {k[len("inputs/"):]: v[:20] for k, v in bundle.users.items() if k.startswith("inputs/")}
  for _ in range(2):
    log.record(rows, np.linspace(0, 1, 20))
  return path


@pytest.mark.parametrize("case,expected", [
    ("no-flags", "error: the following arguments are required: --export, --log" + HELP["monitor"]),
    ("log-missing", "error: --log={t}/none.jsonl does not exist (the service writes it with --monitor_log)"),
    ("log-a-directory", "error: --log={t} is a directory; give the service's --monitor_log file"),
    ("log-empty", "error: {t}/log.jsonl holds no window yet (a service writes one every --window_rows rows or "
     "--window_seconds, and when it stops)"),
    ("log-damaged-line", "error: {t}/log.jsonl line 2 is not a monitor window (Expecting value: line 1 column 1 "
     "(char 0)); is --log the file of a service's --monitor_log?"),
    ("log-json-not-a-window", "error: {t}/log.jsonl line 1 is not a monitor window"),
    ("log-of-another-export", "error: {t}/log.jsonl line 1 is a window of model other-step1, not of this export's "
     "{version} (the log of another export's service)"),
    ("log-other-bins", "error: {t}/log.jsonl line 1 counts input user_id in 3 bins, the export's reference.json in "
     "22 (the log of another export's service)"),
    ("window-negative", "error: --window=-1: expected last, all or a window number of the log (0..1)"),
    ("window-word", "error: --window=first: expected last, all or a window number of the log (0..1)"),
    ("export-missing", "error: --export={t}/nope does not exist"),
    ("reference-damaged", "error: {t}/export/reference.json is damaged: not valid JSON (Expecting value: line 1 "
     "column 1 (char 0)); export the run again"),
], ids=_case_id)
def test_monitor_command_line(case, expected, exported, bundle, monitor_log, tmp_path, capsys):
  t = tmp_path
  lines = open(monitor_log).read().splitlines()
  log = t / "log.jsonl"
  window = json.loads(lines[0])
  content = {"log-empty": "", "log-damaged-line": lines[0] + "\ngarbage\n" + lines[1] + "\n",
             "log-json-not-a-window": "[1, 2]\n",
             "log-of-another-export": json.dumps({**window, "model_version": "other-step1"}) + "\n",
             "log-other-bins": json.dumps({**window, "inputs": {**window["inputs"], "user_id": [1, 2, 3]}}) + "\n"}
  log.write_text(content.get(case, "\n".join(lines) + "\n"))
  export_dir = exported
  if case == "reference-damaged":
    export_dir = t / "export"
    shutil.copytree(exported, export_dir)
    (export_dir / "reference.json").write_text("")
  argv = {"no-flags": [], "log-missing": [f"--export={export_dir}", f"--log={t}/none.jsonl"],
          "log-a-directory": [f"--export={export_dir}", f"--log={t}"],
          "window-negative": [f"--export={export_dir}", f"--log={log}", "--window=-1"],
          "window-word": [f"--export={export_dir}", f"--log={log}", "--window=first"],
          "export-missing": [f"--export={t}/nope", f"--log={log}"]}.get(case, [f"--export={export_dir}", f"--log={log}"])
  assert _cli(monitor.main, argv, capsys) == (1, [expected.format(t=t, version=bundle.version)])


def test_monitor_skips_a_last_line_cut_short_with_a_note(exported, monitor_log, tmp_path, capsys):
  lines = open(monitor_log).read().splitlines()
  log = tmp_path / "log.jsonl"
  log.write_text("\n".join(lines) + "\n" + lines[1][:40])
  capsys.readouterr()
  assert monitor.main([f"--export={exported}", f"--log={log}", "--window=all", "--json"]) == 0
  out, err = capsys.readouterr()
  assert err == f"note: {log} line 3 is cut short (the service stopped while writing it); skipped\n"
  assert json.loads(out)["window"] == [0, 1]
