"""The hybrid model: feature crosses + CF tower + BERT text tower, fused into one CTR logit.

logit = first_order(fields) + head([cross(fields), deep(fields)]) + <user, item> + <query, text>   where
- fields: [batch, F, dim] = embedded categorical/numeric features, plus the text vector, the search query's vector
  and the CF user, item and history vectors as extra fields when those towers are on (so the cross layer can cross
  them with features);
- cross + deep: the `model.cross` block (rec_jax/models/crosses/: lr, fm, deepfm, dnn, dcn, dcnv2, autoint,
  xdeepfm, finalmlp) and, where the family has one beside it (`parallel_deep`: DeepFM, DCN, DCN-v2 parallel, AutoInt+,
  xDeepFM), an MLP (`model.mlp`) over the same fields; `model.cross=none` (or `lr`) removes both, leaving features
  to act only linearly;
- <user, item>: the CF match (width `model.cf_dim`, 0 = embed_dim), user = CF user id vector
  (`model.cf_user_embedding`) + history vector, item = CF item id vector, plus the text vector when
  `model.match_text` (off by default: on the synthetic shop, per-user vectors dotted with the text vector memorise
  and overfit, -0.016 test AUC); only with `model.use_cf`, which also adds a per-item bias. Cold items get their
  meaning from the text vector as a field of the cross layer.
- <query, text>: with search queries in the data (`features.query`), the query is encoded by the text tower
  (`model.query.encoder`: shared weights, or a separate tower built the same way) and, with `model.query.match`,
  its dot product with the item text vector is the bi-encoder's relevance score.
"""

from __future__ import annotations

from typing import Dict

import jax.numpy as jnp
from flax import nnx

from rec_jax.batch import Batch
from rec_jax.errors import UserError
from rec_jax.models.cf_tower import CFTower
from rec_jax.models.fields import FieldEmbedding
from rec_jax.models.mlp import MLP
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.options import NoOptions as Options

TOWER_VECTORS = ("text", "query", "user", "item", "history")
# How search queries (`features.query`) are encoded (`model.query.encoder`): by the item text tower itself (same
# BERT, pooling and projection: a bi-encoder), by a second tower built the same way (same mode and checkpoint) with
# its own weights, or not at all (the queries are ignored: the ablation).
QUERY_ENCODERS = ("shared", "separate", "none")


class HybridRecModel(nnx.Module):
  """batch (rec_jax/batch.py) -> logits [batch]."""

  def __init__(self, opts: ModelOptions, inputs: ModelInputs, parts: Components, *, rngs: nnx.Rngs):
    dim = opts.embed_dim
    vocab_sizes = inputs.vocab_sizes
    self.fields = FieldEmbedding({k: vocab_sizes[k] for k in inputs.categorical}, inputs.numeric,
                                 dim, init_std=opts.embedding_init_std, rngs=rngs)
    self.label_offset = inputs.label_offset
    self.text = self.cf = None
    num_fields = self.fields.num_fields
    if opts.use_text:
      self.text = nnx.data(parts.text_tower(dim, rngs))
    self.query_encoder, self.query = self._query_encoder(opts, inputs.has_query), None
    if self.query_encoder == "separate":
      self.query = nnx.data(parts.text_tower(dim, rngs))
    user_embedding = opts.use_cf and opts.cf_user_embedding
    cf_dim = opts.cf_dim or dim
    if opts.use_cf:
      self.cf = nnx.data(CFTower(vocab_sizes["user_id"], vocab_sizes["item_id"], cf_dim, parts.history,
                                 user_embedding=user_embedding, rngs=rngs))
    unknown = set(opts.field_towers) - set(TOWER_VECTORS)
    if unknown:
      raise UserError(f"model.field_towers: unknown {sorted(unknown)}; valid: {', '.join(TOWER_VECTORS)}")
    # The tower vectors that also join the cross layer as fields (only those whose tower is on).
    available = {"text": opts.use_text, "query": self.query_encoder != "none", "user": user_embedding,
                 "item": opts.use_cf, "history": opts.use_cf and opts.history != "none"}
    self.field_towers = tuple(t for t in TOWER_VECTORS if t in opts.field_towers and available[t])
    cf_fields = [t for t in self.field_towers if t not in ("text", "query")]
    if cf_fields and cf_dim != dim:
      raise UserError(f"model.field_towers has CF vectors {cf_fields}, which need model.cf_dim ({cf_dim}) equal "
                      f"to model.embed_dim ({dim}); set model.cf_dim=0 or drop them from field_towers")
    num_fields += len(self.field_towers)
    self.num_fields = num_fields
    self.match_text = bool(opts.match_text) and self.text is not None and self.cf is not None
    if self.match_text and cf_dim != dim:
      raise UserError(f"model.match_text adds the text vector ({dim}) to the CF item vector, which needs "
                      f"model.cf_dim ({cf_dim}) equal to model.embed_dim; set model.cf_dim=0 or match_text=False")
    self.query_match = self.query_encoder != "none" and bool(opts.query.match)
    self.first_order = nnx.Linear(num_fields * dim, 1, rngs=rngs)
    self.cross = self.deep = self.head = None
    if parts.cross is not None:
      self.cross = nnx.data(parts.cross(num_fields, dim, rngs))
      if self.cross.parallel_deep:
        self.deep = nnx.data(MLP(num_fields * dim, opts.mlp, dropout_rate=opts.mlp_dropout, rngs=rngs))
      width = self.cross.out_dim + (self.deep.out_dim if self.deep is not None else 0)
      if width:
        self.head = nnx.data(nnx.Linear(width, 1, rngs=rngs))

  @staticmethod
  def _query_encoder(opts: ModelOptions, has_query: bool) -> str:
    """`model.query.encoder` when the data has queries (`features.query`), else "none"."""
    if not has_query:
      return "none"
    kind = opts.query.encoder
    if kind not in QUERY_ENCODERS:
      raise UserError(f"model.query.encoder={kind!r}: valid are {', '.join(QUERY_ENCODERS)}")
    if kind != "none" and not opts.use_text:
      raise UserError(f"model.query.encoder={kind!r} encodes queries with the text tower, which "
                      "model.use_text=False switches off; set model.query.encoder=none to ignore the queries")
    return kind

  def text_encoders(self):
    """Per text group (item `text`, search `query`), the BERT encoder that reads it, or None where the tower keeps
    none (a fully frozen encoder's cached vectors); the builder hands them to rec_jax/text/cache.py, which caches
    their frozen blocks."""
    encoders = {}
    if self.text is not None:
      encoders["text"] = getattr(self.text, "bert", None)
    if self.query_encoder != "none":
      encoders["query"] = getattr(self.text if self.query_encoder == "shared" else self.query, "bert", None)
    return encoders

  def tower_vectors(self, batch: Batch) -> Dict[str, jnp.ndarray]:
    """The vectors [batch, dim] of the towers that are on: `text`, `query`, and the CF tower's `user`, `item`,
    `history` (plus `item_bias` [batch]); what rec_jax.analysis embeds items and users with."""
    towers = {}
    if self.text is not None:
      # The batch holds each distinct text once (see data/pipeline.py); rows pick theirs by their slot.
      # Token ids, or what rec_jax/text/cache.py computed ahead for frozen blocks (see text/inputs.py).
      towers["text"] = self.text.encode(batch.text.texts)[batch.text.slot]
    if self.query_encoder != "none":
      tower = self.text if self.query_encoder == "shared" else self.query
      towers["query"] = tower.encode(batch.query.texts)[batch.query.slot]
    if self.cf is not None:
      towers.update(self.cf(batch))
    return towers

  def __call__(self, batch: Batch) -> jnp.ndarray:
    fields = [self.fields(batch)]
    towers = self.tower_vectors(batch)
    match = jnp.zeros(batch.label.shape, jnp.float32)
    if self.query_match:
      # Relevance as a bi-encoder scores it: the dot product of the query's and the item text's vectors.
      match += jnp.sum(towers["query"] * towers["text"], axis=-1)
    if self.cf is not None:
      user = towers.get("user", 0.0) + towers.get("history", 0.0)
      item = towers["item"] + (towers["text"] if self.match_text else 0.0)
      match += jnp.sum(user * item, axis=-1) + towers["item_bias"]
    fields += [towers[t][:, None] for t in self.field_towers]
    fields = jnp.concatenate(fields, axis=1)
    flat = fields.reshape(fields.shape[0], -1)
    logit = self.label_offset + self.first_order(flat)[:, 0] + match
    if self.head is not None:
      parts = [self.cross(fields)] + ([self.deep(flat)] if self.deep is not None else [])
      logit += self.head(jnp.concatenate(parts, axis=-1))[:, 0]
    return logit


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
          rngs: nnx.Rngs) -> HybridRecModel:
  del own   # The hybrid reads the `model` section itself (ModelOptions).
  return HybridRecModel(opts, inputs, parts, rngs=rngs)
