"""LoRA: starts as the base layer, follows y = xW + b + (alpha/r) x A B, trains only A and B, merges exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rec_jax.text.frozen import Frozen
from rec_jax.text.lora import LoRALinear, merge_lora


def _layer(seed=0):
  return nnx.Linear(6, 5, rngs=nnx.Rngs(seed))


def test_fresh_adapter_computes_the_base_layer_exactly():
  base = _layer()
  x = jax.random.normal(jax.random.key(1), (3, 6))
  expected = np.asarray(base(x))
  lora = LoRALinear(base, rank=2, alpha=4.0, rngs=nnx.Rngs(2))
  np.testing.assert_array_equal(np.asarray(lora(x)), expected)


def test_forward_follows_the_formula_and_merges_exactly():
  lora = LoRALinear(_layer(), rank=3, alpha=6.0, rngs=nnx.Rngs(2))
  b = np.asarray(jax.random.normal(jax.random.key(3), (3, 5)))
  lora.lora_b = nnx.Param(jnp.asarray(b))
  x = np.asarray(jax.random.normal(jax.random.key(4), (4, 6)))
  w, bias, a = (np.asarray(v, np.float64) for v in (lora.base.kernel[...], lora.base.bias[...], lora.lora_a[...]))
  expected = x @ w + bias + (6.0 / 3) * (x @ a) @ b
  np.testing.assert_allclose(np.asarray(lora(jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(lora.merged()(jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)


def test_only_the_adapter_is_trainable():
  lora = LoRALinear(_layer(), rank=2, alpha=2.0, rngs=nnx.Rngs(0))
  trainable = nnx.state(lora, nnx.Param)
  assert sorted(k for k, _ in nnx.to_flat_state(trainable)) == [("lora_a",), ("lora_b",)]
  assert {type(v) for _, v in nnx.to_flat_state(nnx.state(lora, Frozen))} == {Frozen}
  graphdef, params, frozen = nnx.split(lora, nnx.Param, ...)
  x = jnp.ones((2, 6))
  grads = jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p, frozen)(x)))(params)
  # d/dB = (alpha/r) (xA)^T 1 is non-zero; d/dA = 0 while B is zero, exactly as in the paper's initialisation.
  assert float(jnp.abs(grads["lora_b"][...]).sum()) > 0
  assert float(jnp.abs(grads["lora_a"][...]).sum()) == 0


def test_merge_lora_replaces_adapters_inside_a_module():
  model = nnx.Sequential(LoRALinear(_layer(), rank=2, alpha=2.0, rngs=nnx.Rngs(0)), nnx.Linear(5, 3, rngs=nnx.Rngs(1)))
  model.layers[0].lora_b = nnx.Param(jnp.ones((2, 5)))
  x = jnp.ones((1, 6))
  expected = np.asarray(model(x))
  merge_lora(model)
  assert isinstance(model.layers[0], nnx.Linear)
  np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5)


def test_rank_must_be_positive():
  with pytest.raises(ValueError, match="rank"):
    LoRALinear(_layer(), rank=0, alpha=1.0, rngs=nnx.Rngs(0))
