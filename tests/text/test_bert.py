"""Tests for the BERT encoder and item text tower: shapes, masking, pooling, config and jit."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rec_jax.text.bert import ACTIVATIONS, BertConfig, BertEncoder, cls_pool, mean_pool
from rec_jax.text.towers import ItemTextTower

CFG = BertConfig(vocab_size=16, hidden_size=16, num_layers=2, num_heads=2,
                 intermediate_size=32, max_position=16)
LENGTHS = np.array([3, 5, 1])
# Differs from hidden_size (so a skipped projection shows) but equals intermediate_size, so the
# projection's init reuses an already compiled shape.
OUT_DIM = 32

# Eager nnx calls compile every primitive separately (seconds on CPU), so tests go through one
# jitted function returning both the encoder states [batch, seq, hidden] and the tower output
# [batch, out_dim]; eager behaviour is covered by test_jit_matches_eager.
_forward = nnx.jit(lambda tower, ids, mask: (tower.bert(ids, mask), tower(ids, mask)))

def _batch(seed: int, seq: int = 5):
  """Random ids [3, seq] and the mask [3, seq] for LENGTHS real tokens per row."""
  ids = np.random.default_rng(seed).integers(1, CFG.vocab_size, (len(LENGTHS), seq))
  mask = (np.arange(seq)[None, :] < LENGTHS[:, None]).astype(np.int32)
  return jnp.asarray(ids, jnp.int32), jnp.asarray(mask)


def _repadded(ids, mask, extra: int = 3):
  """Same real tokens, different ids at padding positions and `extra` more padding columns."""
  seq = ids.shape[1] + extra
  noise = np.random.default_rng(99).integers(1, CFG.vocab_size, (ids.shape[0], seq))
  new_mask = np.pad(np.asarray(mask), ((0, 0), (0, extra)))
  new_ids = np.where(new_mask == 1, np.pad(np.asarray(ids), ((0, 0), (0, extra))), noise)
  assert np.any(new_ids[:, :ids.shape[1]][mask == 0] != np.asarray(ids)[mask == 0])
  return jnp.asarray(new_ids, jnp.int32), jnp.asarray(new_mask)


def test_encoder_and_tower_shapes():
  ids, mask = _batch(0)
  tower = ItemTextTower(CFG, out_dim=OUT_DIM, rngs=nnx.Rngs(0))
  assert isinstance(tower.bert, BertEncoder)
  hidden, pooled = _forward(tower, ids, mask)
  assert hidden.shape == (3, 5, 16)
  assert pooled.shape == (3, OUT_DIM)


def test_padding_changes_neither_real_tokens_nor_pooled_output():
  # Mean pooling only: it reads every position, so it is the pooling padding could corrupt; cls
  # reads position 0, whose invariance the hidden-state check below already covers.
  tower = ItemTextTower(CFG, out_dim=OUT_DIM, pooling="mean", rngs=nnx.Rngs(1))
  ids, mask = _batch(1)
  new_ids, new_mask = _repadded(ids, mask)
  hidden, pooled = _forward(tower, ids, mask)
  new_hidden, new_pooled = _forward(tower, new_ids, new_mask)
  real = np.asarray(mask, bool)
  np.testing.assert_allclose(new_hidden[:, :5][real], hidden[real], atol=1e-5)
  np.testing.assert_allclose(new_pooled, pooled, atol=1e-5)
  # Without the mask the padding ids would leak into real tokens; guards against a vacuous pass.
  unmasked, _ = _forward(tower, new_ids, jnp.ones_like(new_mask))
  assert not np.allclose(unmasked[:, :5][real], hidden[real], atol=1e-3)


def _np_layer_norm(x, ln):
  mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + CFG.layer_norm_eps) * np.asarray(ln.scale[...]) + np.asarray(
      ln.bias[...])


def _np_dense(x, dense):
  return x @ np.asarray(dense.kernel[...], np.float64) + np.asarray(dense.bias[...])


def _np_bert(bert: BertEncoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """HF BertModel's forward written out in float64 numpy: [batch, seq] -> [batch, seq, hidden]."""
  emb = bert.embeddings
  x = (np.asarray(emb.word_embeddings.embedding[...], np.float64)[ids]
       + np.asarray(emb.position_embeddings.embedding[...])[:ids.shape[1]]
       + np.asarray(emb.token_type_embeddings.embedding[...])[0])
  x = _np_layer_norm(x, emb.LayerNorm)
  batch, seq, heads = ids.shape[0], ids.shape[1], CFG.num_heads
  bias = (1.0 - mask[:, None, None, :]) * -1e9  # HF's additive extended attention mask.
  for layer in bert.encoder.layer:
    att = layer.attention
    split = lambda t: t.reshape(batch, seq, heads, -1).transpose(0, 2, 1, 3)
    q, k, v = (split(_np_dense(x, d)) for d in (att.self.query, att.self.key, att.self.value))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(CFG.head_dim) + bias
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, -1)
    x = _np_layer_norm(_np_dense(context, att.output.dense) + x, att.output.LayerNorm)
    inter = _np_dense(x, layer.intermediate.dense)
    inter = 0.5 * inter * (1 + np.vectorize(math.erf)(inter / math.sqrt(2.0)))
    x = _np_layer_norm(_np_dense(inter, layer.output.dense) + x, layer.output.LayerNorm)
  return x


def test_encoder_matches_numpy_hf_reference():
  tower = ItemTextTower(CFG, out_dim=OUT_DIM, rngs=nnx.Rngs(6))
  # BERT's 0.02-std init makes attention near-uniform, hiding e.g. a wrong score scale; random
  # O(0.3) values for every parameter (biases and LayerNorm affine included) make each term count.
  rng = np.random.default_rng(6)
  params = nnx.state(tower, nnx.Param)
  nnx.update(tower, jax.tree.map(
      lambda p: jnp.asarray(rng.normal(scale=0.3, size=p.shape), p.dtype), params))
  ids, mask = _batch(6)
  hidden, _ = _forward(tower, ids, mask)
  expected = _np_bert(tower.bert, np.asarray(ids), np.asarray(mask, np.float64))
  np.testing.assert_allclose(hidden, expected, atol=2e-5)


def test_mean_pool_ignores_padding():
  hidden = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
  _, mask = _batch(0)
  expected = np.stack([hidden[i, :n].mean(0) for i, n in enumerate(LENGTHS)])
  np.testing.assert_allclose(jax.jit(mean_pool)(hidden, mask), expected, rtol=1e-6)


def test_cls_pool_takes_first_position():
  hidden = np.random.default_rng(1).normal(size=(3, 5, 4)).astype(np.float32)
  _, mask = _batch(0)
  np.testing.assert_array_equal(jax.jit(cls_pool)(hidden, mask), np.asarray(hidden)[:, 0])


def test_unknown_pooling_fails():
  with pytest.raises(KeyError, match="mean"):
    ItemTextTower(CFG, out_dim=OUT_DIM, pooling="maen", rngs=nnx.Rngs(0))


def test_from_hf_dict_minilm():
  minilm = {
      "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1,
      "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 384,
      "initializer_range": 0.02, "intermediate_size": 1536, "layer_norm_eps": 1e-12,
      "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
      "num_hidden_layers": 6, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30522,
  }
  cfg = BertConfig.from_hf_dict(minilm)
  assert cfg == BertConfig(vocab_size=30522, hidden_size=384, num_layers=6, num_heads=12,
                           intermediate_size=1536, max_position=512, type_vocab_size=2,
                           layer_norm_eps=1e-12, hidden_act="gelu", initializer_range=0.02)
  assert cfg.head_dim == 32


def test_module_tree_mirrors_hf_names():
  state = nnx.state(BertEncoder(CFG, rngs=nnx.Rngs(0)), nnx.Param)
  paths = {".".join(map(str, path)) for path, _ in nnx.to_flat_state(state)}
  layer = "encoder.layer.1."
  expected = {
      "embeddings.word_embeddings.embedding", "embeddings.position_embeddings.embedding",
      "embeddings.token_type_embeddings.embedding", "embeddings.LayerNorm.scale",
      layer + "attention.self.query.kernel", layer + "attention.self.key.bias",
      layer + "attention.self.value.kernel", layer + "attention.output.dense.kernel",
      layer + "attention.output.LayerNorm.bias", layer + "intermediate.dense.kernel",
      layer + "output.dense.bias", layer + "output.LayerNorm.scale",
  }
  assert expected <= paths
  # 5 embedding params + 16 per layer (4 Linear x 2 for q/k/v/attn-out, 2 FFN Linear x 2, 2 LN x 2).
  assert len(paths) == 5 + 16 * CFG.num_layers


def test_initialisation():
  encoder = BertEncoder(CFG, rngs=nnx.Rngs(0))
  query = encoder.encoder.layer[0].attention.self.query
  np.testing.assert_array_equal(query.bias[...], 0)
  np.testing.assert_array_equal(encoder.embeddings.LayerNorm.scale[...], 1)
  std = float(np.std(encoder.embeddings.word_embeddings.embedding[...]))
  assert abs(std - CFG.initializer_range) < 0.005


def test_jit_matches_eager():
  tower = ItemTextTower(CFG, out_dim=OUT_DIM, rngs=nnx.Rngs(3))
  ids, mask = _batch(3)
  np.testing.assert_allclose(_forward(tower, ids, mask)[1], tower(ids, mask), atol=1e-5)


def test_bfloat16_compute_keeps_float32_params():
  ids, mask = _batch(4)
  full = ItemTextTower(CFG, out_dim=OUT_DIM, rngs=nnx.Rngs(4))
  half = ItemTextTower(CFG, out_dim=OUT_DIM, dtype=jnp.bfloat16, rngs=nnx.Rngs(4))
  _, out = _forward(half, ids, mask)
  assert out.dtype == jnp.bfloat16
  assert half.bert.encoder.layer[0].attention.self.query.kernel[...].dtype == jnp.float32
  _, reference = _forward(full, ids, mask)
  np.testing.assert_allclose(np.asarray(out, np.float32), reference, atol=0.1, rtol=0.1)


def test_activations_follow_hf_definitions():
  x = np.linspace(-4.0, 4.0, 9)
  erf_gelu = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
  tanh_gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
  both = jax.jit(lambda v: (ACTIVATIONS.get("gelu")(v), ACTIVATIONS.get("gelu_new")(v)))
  exact, approx = both(x.astype(np.float32))
  np.testing.assert_allclose(exact, erf_gelu, atol=1e-6)
  np.testing.assert_allclose(approx, tanh_gelu, atol=1e-6)
  # The two differ, so the config string really selects the exact form.
  assert not np.allclose(erf_gelu, tanh_gelu, atol=1e-6, rtol=0)
  with pytest.raises(KeyError):
    BertConfig(vocab_size=50, hidden_act="swishh")


def test_overlong_sequence_fails():
  tower = ItemTextTower(dataclasses.replace(CFG, hidden_act="gelu_new"), OUT_DIM, rngs=nnx.Rngs(5))
  too_long = jnp.ones((1, CFG.max_position + 1), jnp.int32)
  with pytest.raises(ValueError, match="max_position"):
    _forward(tower, too_long, jnp.ones_like(too_long))
