"""The BERT encoder in flax.nnx, with its poolings (the text towers that use it are in towers.py).

The module tree mirrors Hugging Face `BertModel` attribute for attribute, so its weights can be
loaded by name. nnx state path (integers index `nnx.List`) <- HF state-dict key:

  embeddings.word_embeddings.embedding           <- embeddings.word_embeddings.weight
  embeddings.position_embeddings.embedding       <- embeddings.position_embeddings.weight
  embeddings.token_type_embeddings.embedding     <- embeddings.token_type_embeddings.weight
  embeddings.LayerNorm.{scale,bias}              <- embeddings.LayerNorm.{weight,bias}
  encoder.layer.{i}.attention.self.{query,key,value}.{kernel,bias}
                                                 <- same path with .{weight,bias}
  encoder.layer.{i}.attention.output.dense.{kernel,bias}
  encoder.layer.{i}.attention.output.LayerNorm.{scale,bias}
  encoder.layer.{i}.intermediate.dense.{kernel,bias}
  encoder.layer.{i}.output.dense.{kernel,bias}
  encoder.layer.{i}.output.LayerNorm.{scale,bias}

Only leaf names differ: Linear `weight` [out, in] -> `kernel` [in, out] (transpose), Embedding
`weight` -> `embedding`, LayerNorm `weight`/`gamma` -> `scale` and `beta` -> `bias`. In the
text towers the encoder sits under `bert.`, matching the prefix of HF `BertFor*` checkpoints.
HF's `pooler` is not mirrored (the tower pools itself) and dropout is omitted.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax.errors import UserError
from rec_jax.registry import Registry

Dtype = Any

# HF `hidden_act` strings -> functions. HF "gelu" is the exact erf form; "gelu_new" is tanh.
ACTIVATIONS: Registry[Callable[[jax.Array], jax.Array]] = Registry("BERT activation")
ACTIVATIONS.register("gelu")(functools.partial(jax.nn.gelu, approximate=False))
ACTIVATIONS.register("gelu_new")(functools.partial(jax.nn.gelu, approximate=True))
ACTIVATIONS.register("gelu_pytorch_tanh")(functools.partial(jax.nn.gelu, approximate=True))
ACTIVATIONS.register("relu")(jax.nn.relu)

# HF config.json key -> BertConfig field.
HF_CONFIG_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "max_position_embeddings": "max_position",
    "type_vocab_size": "type_vocab_size",
    "layer_norm_eps": "layer_norm_eps",
    "hidden_act": "hidden_act",
    "initializer_range": "initializer_range",
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """BERT hyper-parameters; field names are ours, `from_hf_dict` reads HF's names."""

  vocab_size: int
  hidden_size: int = 128
  num_layers: int = 2
  num_heads: int = 4
  intermediate_size: int = 512
  max_position: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  hidden_act: str = "gelu"
  initializer_range: float = 0.02

  def __post_init__(self):
    if self.hidden_size % self.num_heads:
      raise UserError(
          f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
    ACTIVATIONS.get(self.hidden_act)  # Fail at config time rather than at the first forward.

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_heads

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> BertConfig:
    """Builds a config from a HF `config.json` dict; unrelated HF keys are ignored."""
    return cls(**{ours: d[theirs] for theirs, ours in HF_CONFIG_KEYS.items() if theirs in d})


def dense_layer(in_features: int, out_features: int, cfg: BertConfig, dtype: Optional[Dtype],
           rngs: nnx.Rngs) -> nnx.Linear:
  """Linear with BERT's init: kernel ~ N(0, initializer_range), bias zero."""
  return nnx.Linear(
      in_features, out_features, dtype=dtype,
      kernel_init=nnx.initializers.normal(cfg.initializer_range), rngs=rngs)


def _embed(num: int, cfg: BertConfig, dtype: Optional[Dtype], rngs: nnx.Rngs) -> nnx.Embed:
  return nnx.Embed(
      num, cfg.hidden_size, dtype=dtype,
      embedding_init=nnx.initializers.normal(cfg.initializer_range), rngs=rngs)


def _layer_norm(cfg: BertConfig, dtype: Optional[Dtype], rngs: nnx.Rngs) -> nnx.LayerNorm:
  # use_fast_variance=False: E[x^2]-E[x]^2 loses precision vs. torch's LayerNorm.
  return nnx.LayerNorm(
      cfg.hidden_size, epsilon=cfg.layer_norm_eps, use_fast_variance=False, dtype=dtype,
      rngs=rngs)


class BertEmbeddings(nnx.Module):
  """Word + position + token-type embeddings followed by LayerNorm (HF `embeddings`)."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    self.word_embeddings = _embed(cfg.vocab_size, cfg, dtype, rngs)
    self.position_embeddings = _embed(cfg.max_position, cfg, dtype, rngs)
    self.token_type_embeddings = _embed(cfg.type_vocab_size, cfg, dtype, rngs)
    self.LayerNorm = _layer_norm(cfg, dtype, rngs)  # pylint: disable=invalid-name  (HF name)
    self.max_position = cfg.max_position

  def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array) -> jax.Array:
    """Maps input_ids, token_type_ids [batch, seq] to embeddings [batch, seq, hidden]."""
    seq = input_ids.shape[1]
    # JAX clamps out-of-range gathers silently, so an over-long sequence must fail loudly.
    if seq > self.max_position:
      raise UserError(f"sequence length {seq} exceeds max_position {self.max_position}")
    positions = jnp.arange(seq)[None, :]
    x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
         + self.token_type_embeddings(token_type_ids))
    return self.LayerNorm(x)


class BertSelfAttention(nnx.Module):
  """Multi-head scaled dot-product self-attention with separate q/k/v projections (HF `self`)."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    h = cfg.hidden_size
    self.query = dense_layer(h, h, cfg, dtype, rngs)
    self.key = dense_layer(h, h, cfg, dtype, rngs)
    self.value = dense_layer(h, h, cfg, dtype, rngs)
    self.num_heads = cfg.num_heads
    self.head_dim = cfg.head_dim

  def __call__(self, hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """Maps hidden [batch, seq, hidden] and mask [batch, seq] (1 real/0 pad) to the same shape."""
    batch, seq, width = hidden.shape
    split = lambda x: x.reshape(batch, seq, self.num_heads, self.head_dim)
    q, k, v = split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden))
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.head_dim)
    # Softmax in float32 for low-precision compute dtypes. Masking with `where` instead of adding
    # finfo.min cannot overflow to -inf, so even an all-padding row stays finite (uniform).
    keep = attention_mask[:, None, None, :].astype(bool)
    scores = jnp.where(keep, scores.astype(jnp.float32), jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    context = jnp.einsum("bhqk,bkhd->bqhd", probs, v)
    return context.reshape(batch, seq, width)


class BertResidualOutput(nnx.Module):
  """dense -> add residual -> LayerNorm; HF's `attention.output` and `output` blocks."""

  def __init__(self, in_features: int, cfg: BertConfig, *, dtype: Optional[Dtype] = None,
               rngs: nnx.Rngs):
    self.dense = dense_layer(in_features, cfg.hidden_size, cfg, dtype, rngs)
    self.LayerNorm = _layer_norm(cfg, dtype, rngs)  # pylint: disable=invalid-name  (HF name)

  def __call__(self, x: jax.Array, residual: jax.Array) -> jax.Array:
    """Maps x [batch, seq, in_features], residual [batch, seq, hidden] to [batch, seq, hidden]."""
    return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nnx.Module):
  """Self-attention plus its post-LayerNorm residual output (HF `attention`)."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    # The attribute is literally named `self` because that is HF's name (`attention.self.query`).
    self.self = BertSelfAttention(cfg, dtype=dtype, rngs=rngs)
    self.output = BertResidualOutput(cfg.hidden_size, cfg, dtype=dtype, rngs=rngs)

  def __call__(self, hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """Maps hidden [batch, seq, hidden] to [batch, seq, hidden]."""
    return self.output(self.self(hidden, attention_mask), hidden)


class BertIntermediate(nnx.Module):
  """Feed-forward expansion hidden -> intermediate with the configured activation."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    self.dense = dense_layer(cfg.hidden_size, cfg.intermediate_size, cfg, dtype, rngs)
    self.activation = ACTIVATIONS.get(cfg.hidden_act)

  def __call__(self, hidden: jax.Array) -> jax.Array:
    """Maps [batch, seq, hidden] to [batch, seq, intermediate]."""
    return self.activation(self.dense(hidden))


class BertLayer(nnx.Module):
  """One transformer block, post-LayerNorm as in the original BERT (HF `encoder.layer[i]`)."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    self.attention = BertAttention(cfg, dtype=dtype, rngs=rngs)
    self.intermediate = BertIntermediate(cfg, dtype=dtype, rngs=rngs)
    self.output = BertResidualOutput(cfg.intermediate_size, cfg, dtype=dtype, rngs=rngs)

  def __call__(self, hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """Maps hidden [batch, seq, hidden] and mask [batch, seq] to [batch, seq, hidden]."""
    attended = self.attention(hidden, attention_mask)
    return self.output(self.intermediate(attended), attended)


class BertLayerStack(nnx.Module):
  """The list of transformer blocks (HF's `BertEncoder`, i.e. the `encoder.layer` container)."""

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    self.layer = nnx.List(
        [BertLayer(cfg, dtype=dtype, rngs=rngs) for _ in range(cfg.num_layers)])

  def __call__(self, hidden: jax.Array, attention_mask: jax.Array, start: int = 0,
               stop: Optional[int] = None) -> jax.Array:
    """Runs blocks [start, stop) (default all); maps hidden [batch, seq, hidden] and mask [batch, seq] to
    [batch, seq, hidden]."""
    for block in list(self.layer)[start:stop]:
      hidden = block(hidden, attention_mask)
    return hidden


class BertEncoder(nnx.Module):
  """Embeddings + transformer blocks returning the last hidden state (HF `BertModel` minus pooler).

  Parameters are float32; `dtype` sets the compute dtype (e.g. jnp.bfloat16).
  """

  def __init__(self, cfg: BertConfig, *, dtype: Optional[Dtype] = None, rngs: nnx.Rngs):
    self.config = cfg
    self.embeddings = BertEmbeddings(cfg, dtype=dtype, rngs=rngs)
    self.encoder = BertLayerStack(cfg, dtype=dtype, rngs=rngs)

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: Optional[jax.Array] = None, *, num_layers: Optional[int] = None) -> jax.Array:
    """Runs BERT and returns last_hidden_state [batch, seq, hidden] (or the output of block `num_layers`).

    Args:
      input_ids: [batch, seq] int32 token ids.
      attention_mask: [batch, seq], 1 for real tokens and 0 for padding.
      token_type_ids: optional [batch, seq] segment ids; all zeros when omitted.
      num_layers: run only the embeddings and the first `num_layers` blocks (a frozen prefix, see text/cache.py).
    """
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    hidden = self.embeddings(input_ids, token_type_ids)
    return self.encoder(hidden, attention_mask, stop=num_layers)


# Pooling functions: (hidden [batch, seq, hidden], mask [batch, seq]) -> [batch, hidden].
POOLINGS: Registry[Callable[[jax.Array, jax.Array], jax.Array]] = Registry("text pooling")


@POOLINGS.register("cls")
def cls_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
  """First ([CLS]) token's hidden state [batch, hidden]; the mask is unused."""
  del attention_mask
  return hidden[:, 0]


@POOLINGS.register("mean")
def mean_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
  """Mean of hidden states over real tokens [batch, hidden]."""
  mask = attention_mask.astype(hidden.dtype)[..., None]
  # Clamp the count so an all-padding row yields zeros instead of NaN.
  count = jnp.maximum(jnp.sum(mask, axis=1), 1)
  return jnp.sum(hidden * mask, axis=1) / count
