"""The datasets, keyed by `data.name`: the module `rec_jax.data.datasets.<name>` defines `DATASET`, an object whose
`load(data_cfg, features)` returns a data/raw.py `RawDataset` (raw columns per split and their governance schema).
The real ones are official file formats read through their TFDS builder (rec_jax/data/formats/real_dataset.py)."""

from rec_jax.registry import ModuleRegistry

DATASETS = ModuleRegistry("dataset", __name__, "DATASET")


def load_dataset(data_cfg, features=None):
  """The raw splits of the dataset the `data` section names (`features`: the run's FeatureOptions)."""
  return DATASETS.get(data_cfg.name).DATASET.load(data_cfg, features)
