r"""FuxiCTR's DeepFM for benchmarks/real_ctr.py, run by it in a child process (no JAX threads beside torch's):

  python benchmarks/_fuxictr_deepfm.py <spec.json>

The spec (written by real_ctr.py) names a data dir holding `train.npz`, `validation.npz` and `test.npz` (one int id
column per categorical field, one float column per numeric field, float `label`; FuxiCTR's npz loader reads only
the columns of the feature map, so the evaluation columns stored beside them are ignored), the fields, a grid of
model settings and the training settings. For each setting the child trains a fresh DeepFM with FuxiCTR's own
`BaseModel.fit` over its npz `RankDataLoader` (validation AUC after every epoch, `monitor`/`monitor_mode`,
`early_stop_patience`, `reduce_lr_on_plateau` (lr x 0.1 after a non-improving epoch), `save_best_only` and the best
checkpoint loaded back at the end, gradient clip 10), then predicts the validation and the test split in row order
into the spec's `result` npz. The parent chooses the setting on validation AUC and computes every metric itself
with rec_jax.evaluation.metrics.

The pip package (fuxictr 2.3.10) has no model_zoo, so `DeepFM` is composed from fuxictr's layers in the structure
of FuxiCTR's model_zoo/DeepFM (PyTorch): field embeddings E = FeatureEmbedding(x) [batch, fields, dim];
logit = FactorizationMachine(x, E) (a LogisticRegression over 1-dim embeddings with a bias, plus the FM's pairwise
inner-product sum of E) + MLP_Block(flat E) with one output unit; y = sigmoid(logit). The embedding regularizer is
FuxiCTR's: lambda/2 * ||W||^2 over every FeatureEmbeddingDict table (the field embeddings that FM and DNN share,
and the LR's 1-dim weights), whole tables at every step, added to the batch's mean BCE.
"""

import json
import os
import sys
import time
from typing import Dict, Sequence

import numpy as np
import torch

from fuxictr.pytorch.dataloaders import RankDataLoader
from fuxictr.pytorch.layers import FactorizationMachine, FeatureEmbedding, MLP_Block
from fuxictr.pytorch.models import BaseModel
from fuxictr.pytorch.torch_utils import seed_everything

from _fuxictr_feature_map import load_feature_map

DATASET_ID = "real_ctr"


class DeepFM(BaseModel):
  """inputs {field: ids or values [batch], label: [batch]} -> {"y_pred": click probability [batch, 1]}."""

  def __init__(self, feature_map, *, embedding_dim: int, hidden_units: Sequence[int], net_dropout: float,
               batch_norm: bool, embedding_regularizer: float, net_regularizer: float, learning_rate: float,
               **kwargs):
    super().__init__(feature_map, embedding_regularizer=embedding_regularizer, net_regularizer=net_regularizer,
                     **kwargs)
    self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
    self.fm = FactorizationMachine(feature_map)
    self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1, hidden_units=list(hidden_units),
                         hidden_activations="relu", output_activation=None, dropout_rates=net_dropout,
                         batch_norm=batch_norm)
    self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
    self.reset_parameters()
    self.model_to_device()

  def forward(self, inputs):
    x = self.get_inputs(inputs)
    emb = self.embedding_layer(x)                                       # [batch, fields, dim]
    logit = self.fm(x, emb) + self.mlp(emb.flatten(start_dim=1))         # first order + FM + DNN, [batch, 1]
    return {"y_pred": self.output_activation(logit)}


def train_and_predict(spec: dict, index: int, setting: dict) -> Dict[str, np.ndarray]:
  """One grid setting: FuxiCTR's fit with its early stopping, then validation and test predictions of the best
  epoch's weights. Also returns the validation AUC FuxiCTR's monitor saw after each epoch and the fit's seconds."""
  data_dir, train = spec["data_dir"], spec["train"]
  model_args = dict(setting)
  batch_size = model_args.pop("batch_size")
  feature_map = load_feature_map(data_dir, DATASET_ID, spec["categorical"], spec["numeric"], model_args["embedding_dim"])
  seed_everything(train["seed"])
  model = DeepFM(feature_map, model_id=f"DeepFM_{index}", gpu=-1, task="binary_classification",
                 loss="binary_crossentropy", optimizer="adam", metrics=["logloss", "AUC"], monitor="AUC",
                 monitor_mode="max", save_best_only=True, early_stop_patience=train["patience"],
                 reduce_lr_on_plateau=True, verbose=0, model_root=spec["model_root"], **model_args)
  os.makedirs(model.model_dir, exist_ok=True)
  split = {name: os.path.join(data_dir, f"{name}.npz") for name in ("train", "validation", "test")}
  loader_args = dict(batch_size=batch_size, data_format="npz", num_workers=0)
  train_gen, valid_gen = RankDataLoader(feature_map, stage="train", train_data=split["train"],
                                        valid_data=split["validation"], shuffle=True, **loader_args)
  monitored = []
  fuxi_checkpoint = model.checkpoint_and_earlystop

  def record(logs, *args, **kwargs):
    # Only records what FuxiCTR's own monitor sees; the decision is FuxiCTR's.
    monitored.append(model._monitor.get_value(logs))
    return fuxi_checkpoint(logs, *args, **kwargs)

  model.checkpoint_and_earlystop = record
  start = time.perf_counter()
  model.fit(train_gen, epochs=train["epochs"], validation_data=valid_gen)   # ends with the best weights loaded
  fit_seconds = time.perf_counter() - start
  probs = {}
  for name in ("validation", "test"):
    gen = RankDataLoader(feature_map, stage="test", test_data=split[name], shuffle=False, **loader_args)
    probs[name] = np.asarray(model.predict(gen), np.float64)
  num_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
  print(f"  deepfm[{index}]: {len(monitored)} epochs, best {int(np.argmax(monitored)) + 1}, "
        f"FuxiCTR valid AUC by epoch {' '.join(f'{v:.4f}' for v in monitored)}; fit {fit_seconds:.1f}s",
        flush=True)
  return {f"{index}/valid_probs": probs["validation"], f"{index}/test_probs": probs["test"],
          f"{index}/monitored": np.asarray(monitored), f"{index}/fit_seconds": np.asarray(fit_seconds),
          f"{index}/num_parameters": np.asarray(num_parameters)}


def main(spec_path: str) -> None:
  with open(spec_path) as f:
    spec = json.load(f)
  torch.set_num_threads(spec["threads"])
  result = {}
  for index, setting in enumerate(spec["grid"]):
    result.update(train_and_predict(spec, index, setting))
  np.savez(spec["result"], **result)


if __name__ == "__main__":
  if len(sys.argv) != 2:
    sys.exit(f"usage: python {sys.argv[0]} <spec.json>  (written by benchmarks/real_ctr.py)")
  main(sys.argv[1])
