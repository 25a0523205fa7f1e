"""The two-tower retrieval model (Yi et al. RecSys 2019; Covington et al. 2016): a user tower and an item tower,
each an MLP over its side's embedded features, scored by the dot product of their (normalised) outputs.

`model.name=two_tower`. User tower: the user id (`model.cf_user_embedding`), the user's categorical and numeric features
(`features.user_features`) and the encoded click history (`model.history`: mean, sasrec, bert4rec; DIN needs the
target item, which a user tower cannot see). Item tower: the item id, the item's categorical and numeric features
(`features.item_features`) and, with `model.use_text`, the text tower's vector, which is how a new item with no
clicks (all new items share the OOV id) is still placed near the items it resembles. `model.cf_options`: `mlp`
(hidden layers of each tower, default (64,)), `normalize` (L2-normalise both outputs, default True; the retrieval
loss then divides by `task_options.temperature`).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import jax.numpy as jnp
from flax import nnx

from rec_jax import options
from rec_jax.batch import PAD, Batch
from rec_jax.errors import UserError
from rec_jax.models.fields import FieldEmbedding
from rec_jax.models.id_embedding import IdEmbed
from rec_jax.models.mlp import MLP
from rec_jax.models.options import Components, ModelInputs, ModelOptions
from rec_jax.models.zoo.mf import id_init


@dataclasses.dataclass(frozen=True)
class Options(options.Options):
  mlp: Tuple[int, ...] = (64,)   # hidden layers of each tower
  normalize: bool = True         # L2-normalise both towers' outputs


def _side_features(inputs: ModelInputs, key: str, kind: str) -> Sequence[str]:
  """The `features.<kind>` columns named in `features.<key>` (the side a tower reads)."""
  side = tuple(getattr(inputs, key))
  known = tuple(inputs.categorical) + tuple(inputs.numeric)
  unknown = [f for f in side if f not in known]
  if unknown:
    raise UserError(f"features.{key} names {unknown}, which are not in features.categorical or features.numeric")
  return tuple(f for f in side if f in getattr(inputs, kind))


class Tower(nnx.Module):
  """[batch, parts, dim] field vectors -> [batch, out_dim]: MLP then a linear output, optionally L2-normalised."""

  def __init__(self, num_parts: int, dim: int, hidden: Sequence[int], normalize: bool, *, rngs: nnx.Rngs):
    self.mlp = MLP(num_parts * dim, hidden, rngs=rngs)
    self.out = nnx.Linear(self.mlp.out_dim, dim, rngs=rngs)
    self.normalize = normalize

  def __call__(self, parts: jnp.ndarray) -> jnp.ndarray:
    x = self.out(self.mlp(parts.reshape(parts.shape[0], -1)))
    if self.normalize:
      x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)
    return x


class TwoTowerModel(nnx.Module):
  """query_vectors(batch), candidate_vectors(batch) -> [batch, dim]; __call__ -> their dot product [batch]."""

  def __init__(self, opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
               rngs: nnx.Rngs):
    dim, init = opts.embed_dim, id_init(opts)
    vocab_sizes = inputs.vocab_sizes
    hidden, normalize = tuple(own.mlp), bool(own.normalize)
    user_cat = _side_features(inputs, "user_features", "categorical")
    user_num = _side_features(inputs, "user_features", "numeric")
    item_cat = _side_features(inputs, "item_features", "categorical")
    item_num = _side_features(inputs, "item_features", "numeric")
    self.user_fields = FieldEmbedding({k: vocab_sizes[k] for k in user_cat}, user_num, dim, rngs=rngs)
    self.item_fields = FieldEmbedding({k: vocab_sizes[k] for k in item_cat}, item_num, dim, rngs=rngs)
    self.users = (IdEmbed(vocab_sizes["user_id"], dim, embedding_init=init, rngs=rngs)
                  if opts.cf_user_embedding else None)
    self.items = IdEmbed(vocab_sizes["item_id"], dim, embedding_init=init, rngs=rngs)
    if parts.history is not None and parts.history_class.reads_target:
      raise UserError(f"model.history={opts.history} attends over the history with the target item, which "
                      "the two-tower user tower cannot see; use mean, sasrec or bert4rec")
    self.history = None
    if parts.history is not None:
      self.history = nnx.data(parts.history(dim, rngs))
    self.text = nnx.data(parts.text_tower(dim, rngs)) if opts.use_text else None
    user_parts = self.user_fields.num_fields + (self.users is not None) + (self.history is not None)
    if not user_parts:
      raise UserError("the two-tower user tower reads nothing: set features.user_features, "
                      "model.cf_user_embedding or model.history")
    item_parts = self.item_fields.num_fields + 1 + (self.text is not None)
    self.user_tower = Tower(user_parts, dim, hidden, normalize, rngs=rngs)
    self.item_tower = Tower(item_parts, dim, hidden, normalize, rngs=rngs)
    self.num_items = vocab_sizes["item_id"]
    self.label_offset = inputs.label_offset

  def text_encoders(self):
    return {"text": getattr(self.text, "bert", None)} if self.text is not None else {}

  def query_vectors(self, batch: Batch) -> jnp.ndarray:
    parts = [self.user_fields(batch)] if self.user_fields.num_fields else []
    if self.users is not None:
      parts.append(self.users(batch.user_id)[:, None])
    if self.history is not None:
      hist = batch.history
      parts.append(self.history(self.items(hist), hist != PAD)[:, None])
    return self.user_tower(jnp.concatenate(parts, axis=1))

  def candidate_vectors(self, batch: Batch) -> jnp.ndarray:
    parts = [self.item_fields(batch)] if self.item_fields.num_fields else []
    parts.append(self.items(batch.item_id)[:, None])
    if self.text is not None:
      parts.append(self.text.encode(batch.text.texts)[batch.text.slot][:, None])
    return self.item_tower(jnp.concatenate(parts, axis=1))

  def __call__(self, batch: Batch) -> jnp.ndarray:
    return self.label_offset + jnp.sum(self.query_vectors(batch) * self.candidate_vectors(batch), axis=-1)


def build(opts: ModelOptions, own: Options, inputs: ModelInputs, parts: Components, *,
          rngs: nnx.Rngs) -> TwoTowerModel:
  return TwoTowerModel(opts, own, inputs, parts, rngs=rngs)
