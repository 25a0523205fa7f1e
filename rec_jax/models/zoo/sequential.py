"""Sequential recommenders (SASRec, BERT4Rec, ...): an item-id table and a history encoder (`model.history`) that
turns a user's click sequence into the vector that scores the next item.

`model.name=sequential`. Training (task `next_item`) follows the encoder's paper, on the sequence of a click row's
history followed by the clicked item:
- `causal` (sasrec): every position predicts the item after it (Kang & McAuley 2018);
- `masked` (bert4rec): the cloze task, each item masked with probability `task_options.mask_prob`, and the last
  item (the clicked one) always, which is also how it predicts at test time (Sun et al. 2019);
- no objective of its own (mean): the history predicts the clicked item.
Query = the encoder's output for the history (SASRec: its last state; BERT4Rec: the state at an appended [mask]);
candidates = item vectors; score = their dot product.

An item's vector is its id vector (new items share the OOV vector) plus, with `model.use_text`, the text tower's
vector of its text (text/towers.py), so a new item with no clicks is still placed by what it says (the "text + id"
item representation of UniSRec, Hou et al. KDD 2022). The same vector is the item's input to the encoder and its
candidate vector. Training scores every item of the vocabulary, so the model holds each vocabulary id's text
(`attach_item_texts`, from the train split: rec_jax/experiment.py; data/vocabulary_texts.py) as frozen weights;
with a frozen text encoder these are its cached pooled vectors and a step only projects them. Candidates at
evaluation read their own row's text, so a cold item's text reaches its vector; an item out of the vocabulary
inside a history reads the OOV vector alone.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.batch import OOV, PAD, Batch, PackedSequences, Texts
from rec_jax.errors import UserError
from rec_jax.models.dropout import dropout
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.models.zoo.mf import id_init
from rec_jax.text.frozen import Frozen


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  """`model.cf_options` of the sequential model. `id_dropout` (with text): in training, each item with a text is,
  with this probability per step, read as a new item would be (the OOV id vector plus its text vector) everywhere
  in the step, in the encoder's inputs and in the softmax table, so the text vectors learn to place items
  without their ids, as cold items must be placed."""
  id_dropout: float = 0.0


TEXT_FIELDS = ("ids", "mask", "types", "hidden", "pooled")


class VocabularyTexts(nnx.Module):
  """Each item-vocabulary id's text in the text tower's input form, and whether the id has one: frozen weights,
  fixed by the data (their fingerprint is checked on resume like any frozen weight)."""

  def __init__(self, texts: Texts, known):
    for name in TEXT_FIELDS:
      value = getattr(texts, name)
      setattr(self, name, Frozen(jnp.asarray(value)) if value is not None else None)
    self.known = Frozen(jnp.asarray(known, jnp.float32))

  def texts(self) -> Texts:
    return Texts(**{name: getattr(self, name)[...] for name in TEXT_FIELDS if getattr(self, name) is not None})


class SequentialRecommender(nnx.Module):
  """query_vectors(batch), candidate_vectors(batch) -> [batch, dim]; __call__ -> their dot product [batch]."""

  def __init__(self, opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
               rngs: nnx.Rngs):
    if parts.history is None or parts.history_class.reads_target:
      raise UserError(f"model.name=sequential needs a history encoder that reads the sequence alone "
                      f"(model.history: mean, sasrec, bert4rec), not {opts.history!r}")
    dim, vocab_sizes = opts.embed_dim, inputs.vocab_sizes
    if own.id_dropout and not opts.use_text:
      raise UserError("model.cf_options.id_dropout reads items by their text alone; it needs model.use_text")
    self.items = IdEmbed(vocab_sizes["item_id"], dim, embedding_init=id_init(opts), rngs=rngs)
    self.encoder = nnx.data(parts.history(dim, rngs))
    self.text = nnx.data(parts.text_tower(dim, rngs)) if opts.use_text else None
    self.vocabulary_texts = nnx.data(None)
    self.id_dropout = dropout(own.id_dropout)
    self.num_items = vocab_sizes["item_id"]
    self.label_offset = inputs.label_offset

  def text_encoders(self):
    return {"text": getattr(self.text, "bert", None)} if self.text is not None else {}

  def attach_item_texts(self, texts: Texts, known) -> None:
    """Sets each vocabulary id's text ([num_items, ...] in the text tower's input form) and whether it has one
    ([num_items] bool): the texts the training softmax and the history inputs read."""
    if len(known) != self.num_items:
      raise UserError(f"item texts for {len(known)} ids, but the item vocabulary has {self.num_items}")
    self.vocabulary_texts = VocabularyTexts(texts, known)

  def _text_table(self):
    """[num_items, dim] the text vector of each vocabulary id (0 for ids without text), or None without text."""
    if self.text is None:
      return None
    if self.vocabulary_texts is None:
      raise UserError("model.use_text: the sequential model has no item texts; attach_item_texts() must run "
                      "before training or scoring (rec_jax/experiment.py does)")
    vectors = self.text.encode(self.vocabulary_texts.texts())
    return vectors * self.vocabulary_texts.known[...][:, None].astype(vectors.dtype)

  def _read_ids(self, ids: jnp.ndarray) -> jnp.ndarray:
    """The ids the id table is read with: in training with `id_dropout`, this step's dropped items (those with a
    text) read as OOV."""
    if self.id_dropout is None or self.id_dropout.deterministic:
      return ids
    dropped = ~self.id_dropout.keep((self.num_items,)) & (self.vocabulary_texts.known[...] > 0)
    return jnp.where(dropped[ids], OOV, ids)

  def item_vectors(self, ids: jnp.ndarray) -> jnp.ndarray:
    """[..., dim] the vectors of vocabulary ids: id vector + text vector."""
    text = self._text_table()
    vectors = self.items(self._read_ids(ids))
    return vectors if text is None else vectors + text[ids]

  @property
  def sequence_objective(self):
    """The encoder's own training objective ("causal", "masked"), or None (the history predicts the row's item):
    with one, next_item trains on whole packed sequences (tasks/packed_sequences.py)."""
    return self.encoder.objective

  def item_table(self) -> jnp.ndarray:
    text = self._text_table()
    table = self.items.full_table()
    if self.id_dropout is not None and not self.id_dropout.deterministic:
      table = table[self._read_ids(jnp.arange(self.num_items))]
    return table if text is None else table + text

  def query_vectors(self, batch: Batch) -> jnp.ndarray:
    hist = batch.history
    return self.encoder(self.item_vectors(hist), hist != PAD)

  def candidate_vectors(self, batch: Batch) -> jnp.ndarray:
    vectors = self.items(batch.item_id)
    if self.text is None:
      return vectors
    return vectors + self.text.encode(batch.text.texts)[batch.text.slot]

  def __call__(self, batch: Batch) -> jnp.ndarray:
    return self.label_offset + jnp.sum(self.query_vectors(batch) * self.candidate_vectors(batch), axis=-1)

  def next_item_targets(self, batch: Batch, rng, mask_prob: float):
    """(states [batch, positions, dim], target ids [batch, positions], weights [batch, positions]) of the
    encoder's training objective on history + clicked item; `mask_prob`: the cloze objective's masking rate."""
    hist, item = batch.history, batch.item_id
    objective = self.encoder.objective
    if objective is None:
      return self.query_vectors(batch)[:, None], item[:, None], jnp.ones(item.shape + (1,), jnp.float32)
    length = hist.shape[1]
    n = jnp.sum(hist != PAD, axis=1)
    # Histories are left-aligned, so the clicked item goes right after the last real one.
    seq = jnp.concatenate([hist, jnp.zeros_like(hist[:, :1])], axis=1)
    position = jnp.arange(length + 1)[None]
    seq = jnp.where(position == n[:, None], item[:, None], seq)
    real = seq != PAD
    if objective == "causal":
      states = self.encoder.states(self.item_vectors(seq), real)
      targets = jnp.concatenate([seq[:, 1:], jnp.zeros_like(seq[:, :1])], axis=1)
      weights = (position < n[:, None]) & (targets > OOV)
    elif objective == "masked":
      masked = real & ((jax.random.uniform(rng, seq.shape) < mask_prob) | (position == n[:, None]))
      states = self.encoder.states(self.encoder.mask_items(self.item_vectors(seq), masked), real)
      targets, weights = seq, masked & (seq > OOV)
    else:
      raise UserError(f"history encoder objective {objective!r} is unknown to the sequential model")
    return states, targets, weights.astype(jnp.float32)

  def packed_targets(self, packed: PackedSequences, rng, mask_prob: float):
    """(states, targets, weights) [rows, length(, dim)] of the encoder's objective on packed sequences: causal,
    each item predicts the next one of its own sequence; masked, the cloze task with each sequence's last item
    always masked (as at test time)."""
    seq, segment = packed.items, packed.segment
    real = segment > 0
    next_segment = jnp.concatenate([segment[:, 1:], jnp.zeros_like(segment[:, :1])], axis=1)
    if self.encoder.objective == "causal":
      states = self.encoder.states(self.item_vectors(seq), real, segment, packed.position)
      targets = jnp.concatenate([seq[:, 1:], jnp.zeros_like(seq[:, :1])], axis=1)
      weights = real & (next_segment == segment) & (targets > OOV)
    elif self.encoder.objective == "masked":
      last = real & (next_segment != segment)
      masked = real & ((jax.random.uniform(rng, seq.shape) < mask_prob) | last)
      inputs = self.encoder.mask_items(self.item_vectors(seq), masked)
      states = self.encoder.states(inputs, real, segment, packed.position)
      targets, weights = seq, masked & (seq > OOV)
    else:
      raise UserError(f"history encoder objective {self.encoder.objective!r} has no packed-sequence training")
    return states, targets, weights.astype(jnp.float32)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
          rngs: nnx.Rngs) -> SequentialRecommender:
  return SequentialRecommender(opts, own, inputs, parts, rngs=rngs)
