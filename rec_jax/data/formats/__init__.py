"""Official file formats of real datasets (registry.py), their TFDS builders (builders.py) and the accounting of
what reading them did (source_report.py)."""

from rec_jax.data.formats import amazon_reviews, criteo, movielens, recbole_atomic, sequence_txt  # noqa: F401

FORMAT_MODULES = (amazon_reviews, criteo, movielens, recbole_atomic, sequence_txt)
