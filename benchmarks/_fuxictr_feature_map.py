"""FuxiCTR's feature map for the benchmarks' child processes (_fuxictr_dcnv2.py, _fuxictr_deepfm.py), which run as
scripts from this directory."""

import os
from collections import OrderedDict
from typing import Dict, Sequence

from fuxictr.features import FeatureMap

LABEL = "label"


def load_feature_map(data_dir: str, dataset_id: str, categorical: Dict[str, int], numeric: Sequence[str],
                     embedding_dim: int) -> FeatureMap:
  """Writes feature_map.json as FuxiCTR's preprocessing would (categorical fields with their vocabulary sizes,
  numeric fields as scalars) and loads it back the way its run_expid.py does."""
  feature_map = FeatureMap(dataset_id, data_dir)
  specs = [(name, {"source": "", "type": "categorical", "vocab_size": int(size)}) for name, size in categorical.items()]
  specs += [(name, {"source": "", "type": "numeric"}) for name in numeric]
  feature_map.features = OrderedDict(specs)
  feature_map.labels = [LABEL]
  feature_map.num_fields = len(specs)
  feature_map.total_features = int(sum(categorical.values())) + len(numeric)
  feature_map.set_column_index()
  json_path = os.path.join(data_dir, "feature_map.json")
  feature_map.save(json_path)
  loaded = FeatureMap(dataset_id, data_dir)
  loaded.load(json_path, {"embedding_dim": embedding_dim})
  return loaded
