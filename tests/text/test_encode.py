"""Tests for `rec_jax.text.encode.encode_texts`: bucketing must not change embeddings, order or the compile budget."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.text import encode as text_encode
from rec_jax.text.bert import BertConfig, BertEncoder, mean_pool

CFG = BertConfig(vocab_size=50, hidden_size=8, num_layers=2, num_heads=2, intermediate_size=16, max_position=64)


class FakeTokenizer:
  """Text "t<k>" -> [CLS]=1, k word ids derived from k, [SEP]=2, padded/truncated to max_length like WordPiece."""

  def encode(self, texts, max_length):
    n = len(texts)
    ids, mask, types = (np.zeros((n, max_length), np.int32) for _ in range(3))
    for row, text in enumerate(texts):
      k = int(text[1:])
      tokens = ([1] + [3 + (k * 7 + j * 3) % 47 for j in range(k)] + [2])[:max_length]
      ids[row, :len(tokens)] = tokens
      mask[row, :len(tokens)] = 1
      types[row, len(tokens) // 2:len(tokens)] = 1  # Non-trivial token types, to check they follow their rows.
    return ids, mask, types


class CountingEncoder(BertEncoder):
  """A BertEncoder that counts how often it is traced, i.e. how many shapes jit compiles it for."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.traces = []

  def __call__(self, input_ids, attention_mask, token_type_ids=None):
    self.traces.append(tuple(input_ids.shape))
    return super().__call__(input_ids, attention_mask, token_type_ids)


def _reference(encoder, tokenizer, text, max_length):
  """Embedding of one text alone at its exact length, without jit or padding."""
  ids, mask, types = tokenizer.encode([text], max_length)
  length = int(mask.sum())
  pooled = np.asarray(_pool(encoder, *(jnp.asarray(a[:, :length]) for a in (ids, mask, types))))[0]
  return pooled / np.linalg.norm(pooled)


@nnx.jit
def _pool(encoder, ids, mask, types):
  # Jitted (one compile per exact length) only because eager dispatch would make the test slow.
  return mean_pool(encoder(ids, mask, types), mask)


def test_bucketed_matches_single_exact_length_and_keeps_order():
  encoder = BertEncoder(CFG, rngs=nnx.Rngs(0))
  tokenizer = FakeTokenizer()
  rng = np.random.default_rng(0)
  # Word counts on both sides of bucket edges, and past max_length 64 (truncated); repeated and shuffled so that
  # batches mix lengths and the sort must be undone.
  counts = np.array([0, 5, 14, 15, 31, 45, 62, 70] * 3)
  texts = [f"t{k}" for k in rng.permutation(counts)] + ["t5", "t5"]
  got = text_encode.encode_texts(encoder, tokenizer, texts, batch_size=8, max_length=64, bucket_multiple=16)
  assert got.shape == (len(texts), CFG.hidden_size) and got.dtype == np.float32
  want = np.stack([_reference(encoder, tokenizer, t, 64) for t in texts])
  np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(got[-1], got[-2], atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_compiled_shapes_are_bounded():
  encoder = CountingEncoder(CFG, rngs=nnx.Rngs(1))
  tokenizer = FakeTokenizer()
  texts = [f"t{k}" for k in range(100)]  # 100 texts, 13 batches of 8, lengths 2..64 after truncation.
  text_encode.encode_texts(encoder, tokenizer, texts, batch_size=8, max_length=64, bucket_multiple=16)
  jit_traces = list(encoder.traces)
  assert set(jit_traces) <= {(8, 16), (8, 32), (8, 48), (8, 64)}
  assert len(jit_traces) == len(set(jit_traces)) <= 4  # One compile per shape, none per batch.
  before = len(encoder.traces)
  text_encode.encode_texts(encoder, tokenizer, texts[::-1], batch_size=8, max_length=64, bucket_multiple=16)
  assert len(encoder.traces) == before  # A second pass reuses every compiled shape.


def test_unnormalized_and_small_inputs():
  encoder = BertEncoder(CFG, rngs=nnx.Rngs(2))
  tokenizer = FakeTokenizer()
  got = text_encode.encode_texts(encoder, tokenizer, ["t3", "t0"], batch_size=64, max_length=64, normalize=False)
  ids, mask, types = (jnp.asarray(a[:, :16]) for a in tokenizer.encode(["t3", "t0"], 64))
  np.testing.assert_allclose(got, np.asarray(mean_pool(encoder(ids, mask, types), mask)), atol=1e-5)
  assert text_encode.encode_texts(encoder, tokenizer, [], max_length=64).shape == (0, CFG.hidden_size)
  assert text_encode.bucket_length(17, 16, 64) == 32 and text_encode.bucket_length(70, 16, 64) == 64
