"""What every model is built from: the `model` section's options (`ModelOptions`), the data it reads
(`ModelInputs`) and the components the builder made from the config's strings (`Components`: the feature cross,
the history encoder, the text tower), so that model modules take plain arguments, not the config."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Tuple

from flax import nnx

from rec_jax.options import NoOptions, Options
from rec_jax.text.options import TextOptions

# The `model` keys that are not ModelOptions: the model's name and the option groups the builder reads.
BUILDER_KEYS = ("name", "cross_options", "history_options", "cf_options")


@dataclasses.dataclass(frozen=True)
class QueryOptions(Options):
  """`model.query`: how search queries (`features.query`) are encoded: `shared` (the item text tower itself: a
  bi-encoder) | `separate` (a second tower built the same way, own weights) | `none` (ignored); `match` adds
  <query, item text> to the logit."""
  encoder: str = "shared"
  match: bool = True


@dataclasses.dataclass(frozen=True)
class ModelOptions(Options):
  """The `model` section (besides `name` and the option groups). Each model reads the keys it knows."""
  embed_dim: int = 32                 # field and id embedding width
  use_text: bool = True               # the three towers of the hybrid, each switched by one key
  use_cf: bool = True
  cross: str = "deepfm"               # rec_jax/models/crosses/<name>.py, or none
  history: str = "none"               # rec_jax/models/history/<name>.py, or none
  cf_user_embedding: bool = True      # a per-user id vector in the CF match / user tower
  embedding_init_std: float = 0.05    # normal init of id and field embeddings (FuxiCTR: 1e-4)
  cf_dim: int = 4                     # width of the CF match (0: embed_dim)
  field_towers: Tuple[str, ...] = ("text",)   # tower vectors that also join the cross layer as fields
  match_text: bool = False            # the text vector joins the item side of the CF match (needs cf_dim 0)
  mlp: Tuple[int, ...] = (128,)       # the deep MLP beside the cross
  mlp_dropout: float = 0.0            # dropout after every hidden layer of that MLP, in training
  query: QueryOptions = dataclasses.field(default_factory=QueryOptions)
  text: TextOptions = dataclasses.field(default_factory=TextOptions)

  @classmethod
  def from_model_section(cls, section) -> "ModelOptions":
    return cls.from_config({k: section[k] for k in section.keys() if k not in BUILDER_KEYS}, where="model")


@dataclasses.dataclass(frozen=True)
class ModelInputs:
  """What the data gives a model: vocabulary sizes (every categorical feature, `user_id`, `item_id` and `text`, the
  tokenizer's), the feature lists, whether rows carry search queries and the offset added to pointwise outputs (the
  train mean rating of the rating task, else 0)."""
  vocab_sizes: Mapping[str, int]
  categorical: Tuple[str, ...] = ()
  numeric: Tuple[str, ...] = ()
  user_features: Tuple[str, ...] = ()
  item_features: Tuple[str, ...] = ()
  has_query: bool = False
  label_offset: float = 0.0


@dataclasses.dataclass(frozen=True)
class Components:
  """The parts named by config strings, resolved by the builder (rec_jax/experiment.py): `cross` (num_fields,
  field_dim, rngs) -> module; `history` (dim, rngs) -> encoder, with `history_class` its class (objective,
  reads_target); `text_tower` (out_dim, rngs) -> tower; `own` the model's `model.cf_options`."""
  cross: Optional[Callable[[int, int, nnx.Rngs], nnx.Module]] = None
  history: Optional[Callable[[int, nnx.Rngs], nnx.Module]] = None
  history_class: Optional[type] = None
  text_tower: Optional[Callable[[int, nnx.Rngs], nnx.Module]] = None
  own: Any = NoOptions()
