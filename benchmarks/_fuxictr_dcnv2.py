r"""FuxiCTR's DCNv2 for benchmarks/ctr_train.py, run by it in a child process (no JAX threads beside torch, and
DataLoader workers can fork safely):

  python benchmarks/_fuxictr_dcnv2.py <spec.json>

The spec names a data dir holding `<split>.npz` (one int id column per field, float `label`, as FuxiCTR's own
preprocessing writes them), the field vocabulary sizes, the model and training settings and the torch thread count;
the child writes feature_map.json there, trains with FuxiCTR's own `BaseModel.fit` over its npz `RankDataLoader`,
and saves step timestamps, test predictions and its peak RSS to the spec's `result` npz.

The pip package (fuxictr 2.3.10) has no model_zoo, so `DCNv2` follows model_zoo/DCNv2/src/DCNv2.py for the
settings of its config template `DCNv2_default` (model_structure=parallel, use_low_rank_mixture=False, no dropout,
no batch norm, no regularizers): y = sigmoid(fc([CrossNetV2(x0), MLP_Block(x0)])), x0 the flat field embeddings.
"""

import json
import os
import resource
import sys
import time
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from fuxictr.features import FeatureMap
from fuxictr.pytorch.dataloaders import RankDataLoader
from fuxictr.pytorch.layers import CrossNetV2, FeatureEmbedding, MLP_Block
from fuxictr.pytorch.models import BaseModel
from fuxictr.pytorch.torch_utils import seed_everything

from _fuxictr_feature_map import load_feature_map

DATASET_ID = "synthetic_shop"


class DCNv2(BaseModel):
  """inputs {field: ids [batch], label: [batch]} -> {"y_pred": click probability [batch, 1]}."""

  def __init__(self, feature_map, *, embedding_dim: int, parallel_dnn_hidden_units: Sequence[int],
               num_cross_layers: int, learning_rate: float, embedding_std: Optional[float] = None, **kwargs):
    super().__init__(feature_map, model_id="DCNv2", embedding_regularizer=0, net_regularizer=0, **kwargs)
    # FuxiCTR's default embedding initializer (normal, std 1e-4) unless `embedding_std` asks for another std.
    init = {} if embedding_std is None else {"embedding_initializer": f"partial(nn.init.normal_, std={embedding_std})"}
    self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim, **init)
    input_dim = feature_map.sum_emb_out_dim()
    self.crossnet = CrossNetV2(input_dim, num_cross_layers)
    self.parallel_dnn = MLP_Block(input_dim=input_dim, output_dim=None, hidden_units=list(parallel_dnn_hidden_units),
                                  hidden_activations="relu", output_activation=None, dropout_rates=0,
                                  batch_norm=False)
    self.fc = nn.Linear(input_dim + parallel_dnn_hidden_units[-1], 1)
    self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
    self.reset_parameters()
    self.model_to_device()

  def forward(self, inputs):
    x0 = self.embedding_layer(self.get_inputs(inputs), flatten_emb=True)   # [batch, fields * dim]
    logit = self.fc(torch.cat([self.crossnet(x0), self.parallel_dnn(x0)], dim=-1))
    return {"y_pred": self.output_activation(logit)}


def train_and_predict(feature_map: FeatureMap, data_dir: str, model_root: str, *, epochs: int, batch_size: int,
                      num_workers: int, seed: int, **model_args) -> Dict[str, np.ndarray]:
  """`BaseModel.fit` for `epochs` epochs (validated and checkpointed after each, as FuxiCTR does; no early stop and
  no learning-rate decay, so both sides train alike), then test-split predictions in row order.

  Returns `step_ends` (perf_counter() when each train step returned, in step order), `step_seconds` (time inside
  each `train_step` call, without data loading), `steps_per_epoch`, `test_probs` and `num_parameters`."""
  seed_everything(seed)
  model = DCNv2(feature_map, gpu=-1, task="binary_classification", loss="binary_crossentropy", optimizer="adam",
                metrics=["logloss", "AUC"], monitor={"AUC": 1, "logloss": -1}, monitor_mode="max",
                save_best_only=False, early_stop_patience=epochs + 1, reduce_lr_on_plateau=False, verbose=0,
                model_root=model_root, **model_args)
  os.makedirs(model.model_dir, exist_ok=True)
  loader_args = dict(batch_size=batch_size, data_format="npz", num_workers=num_workers)
  train_gen, valid_gen = RankDataLoader(feature_map, stage="train", train_data=os.path.join(data_dir, "train.npz"),
                                        valid_data=os.path.join(data_dir, "validation.npz"), shuffle=True,
                                        **loader_args)
  step_ends, step_seconds = [], []
  fuxi_step = model.train_step

  def timed_step(batch):
    # Only timestamps: the step itself is FuxiCTR's (forward, BCE, backward, grad clip 10, Adam).
    start = time.perf_counter()
    loss = fuxi_step(batch)
    end = time.perf_counter()
    step_ends.append(end)
    step_seconds.append(end - start)
    return loss

  model.train_step = timed_step
  model.fit(train_gen, epochs=epochs, validation_data=valid_gen)
  test_gen = RankDataLoader(feature_map, stage="test", test_data=os.path.join(data_dir, "test.npz"), shuffle=False,
                            **loader_args)
  probs = np.asarray(model.predict(test_gen), np.float64)
  num_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
  return {"step_ends": np.asarray(step_ends), "step_seconds": np.asarray(step_seconds),
          "steps_per_epoch": np.asarray(len(train_gen)), "test_probs": probs,
          "num_parameters": np.asarray(num_parameters)}


def main(spec_path: str) -> None:
  with open(spec_path) as f:
    spec = json.load(f)
  torch.set_num_threads(spec["threads"])
  feature_map = load_feature_map(spec["data_dir"], DATASET_ID, spec["vocab_sizes"], (), spec["model"]["embedding_dim"])
  result = train_and_predict(feature_map, spec["data_dir"], spec["model_root"], **spec["train"], **spec["model"])
  result["peak_rss_kb"] = np.asarray(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)   # this child's own
  np.savez(spec["result"], **result)


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: python {sys.argv[0]} <spec.json>  (written by benchmarks/ctr_train.py)")
  main(sys.argv[1])
