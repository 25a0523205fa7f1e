"""The TFDS builders of the real datasets, one per format: `Movielens`, `AmazonReviews`, `RecboleAtomic`,
`SequenceTxt`, `Criteo` (TFDS names `movielens`, `amazon_reviews`, ...), each formats/table_builder.py's
TableBuilder reading its format's files."""

from __future__ import annotations

from rec_jax.data.formats import FORMAT_MODULES  # noqa: F401  (imports and registers every format)
from rec_jax.data.formats.table_builder import TableBuilder


class Movielens(TableBuilder):
  """MovieLens ml-100k, ml-1m and the CSV releases (formats/movielens.py)."""
  FORMAT = "movielens"


class AmazonReviews(TableBuilder):
  """McAuley-lab Amazon reviews and metadata, JSON lines, 2018 and 2023 releases (formats/amazon_reviews.py)."""
  FORMAT = "amazon_reviews"


class RecboleAtomic(TableBuilder):
  """RecBole / UniSRec atomic files: .inter, .item, .user, .text (formats/recbole_atomic.py)."""
  FORMAT = "recbole_atomic"


class SequenceTxt(TableBuilder):
  """One `user item` pair per line in time order, the SASRec data format (formats/sequence_txt.py)."""
  FORMAT = "sequence_txt"


class Criteo(TableBuilder):
  """Criteo-style CTR TSV: label, 13 integer and 26 categorical columns, streamed (formats/criteo.py)."""
  FORMAT = "criteo"


BUILDERS = {cls.FORMAT: cls for cls in (Movielens, AmazonReviews, RecboleAtomic, SequenceTxt, Criteo)}
