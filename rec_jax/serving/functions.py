"""A model method serialised with `jax.export` (StableHLO, batch dimension symbolic), its weights kept beside it as
arrays, and read back without any of the code that built the model.

The exported program takes `(weights, inputs)`: `weights` the flat list of the module's state arrays (PRNG keys as
their raw key data), `inputs` a dict of named arrays (serving/signature.py). Weights are arguments rather than
constants folded into the program, so one set of arrays serves several functions of the same model (the CTR score,
the user tower, the item tower) and the program files stay small.

Calling: `Function.__call__(inputs)` pads the rows up to a power of two (at least 8), so a server compiles one
executable per size class instead of one per request size, and cuts the padding off the outputs.
"""

from __future__ import annotations

import os
import zipfile
from typing import Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from rec_jax.errors import UserError

MIN_ROWS = 8


def _is_key(x) -> bool:
  return jnp.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key)


def export_method(module: nnx.Module, body: Callable, specs: Dict[str, jax.ShapeDtypeStruct]
                  ) -> Tuple[jax.export.Exported, List[np.ndarray], List[str]]:
  """(the exported `body(module, inputs)`, the module's weights, each weight's dtype name). `specs`: the abstract
  inputs, their leading dimension symbolic."""
  graphdef, state = nnx.split(module)
  leaves, treedef = jax.tree.flatten(state)
  impls = [str(jax.random.key_impl(x)) if _is_key(x) else None for x in leaves]
  stored = [np.asarray(jax.random.key_data(x) if impl else x) for x, impl in zip(leaves, impls)]

  def fn(weights, inputs):
    rebuilt = [jax.random.wrap_key_data(w, impl=impl) if impl else w for w, impl in zip(weights, impls)]
    return body(nnx.merge(graphdef, jax.tree.unflatten(treedef, rebuilt)), inputs)

  avals = [jax.ShapeDtypeStruct(w.shape, w.dtype) for w in stored]
  exported = jax.export.export(jax.jit(fn))(avals, specs)
  return exported, stored, [str(w.dtype) for w in stored]


def batch_dim(name: str = "b"):
  """The symbolic batch dimension of exported inputs."""
  return jax.export.symbolic_shape(name)[0]


def save_weights(path: str, weights: List[np.ndarray]) -> None:
  np.savez(path, **{f"w{i:05d}": w for i, w in enumerate(weights)})


def load_weights(path: str, dtypes: List[str]) -> List[jax.Array]:
  """The weights of `save_weights`, on the default device, checked against the dtypes the manifest lists."""
  try:
    with np.load(path) as f:
      arrays = [f[f"w{i:05d}"] for i in range(len(dtypes))]
  except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise UserError(f"{path} is damaged or incomplete ({e}); export the run again") from None
  out = []
  for a, dtype in zip(arrays, dtypes):
    want = jnp.dtype(dtype)
    out.append(jnp.asarray(a if a.dtype == want else a.view(want)))
  return out


def size_class(rows: int) -> int:
  """The padded row count a call with `rows` rows runs at: the next power of two, at least MIN_ROWS."""
  return max(MIN_ROWS, 1 << max(rows - 1, 0).bit_length())


class Function:
  """An exported function ready to call: `fn(inputs)` -> its output for the rows of `inputs` (numpy in and out)."""

  def __init__(self, name: str, exported: jax.export.Exported, weights: List[jax.Array], input_names: List[str]):
    self.name = name
    self.exported = exported
    self.weights = weights
    self.input_names = sorted(input_names)
    self._call = jax.jit(exported.call)

  @classmethod
  def read(cls, name: str, path: str, weights: List[jax.Array], input_names: List[str]) -> "Function":
    try:
      with open(path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    except OSError as e:
      raise UserError(f"cannot read exported function {name!r} from {path}: {e}") from None
    except Exception as e:  # noqa: BLE001  (a damaged file fails inside the flatbuffer reader)
      raise UserError(f"{path} does not hold an exported function ({type(e).__name__}: {e}); export the run "
                      "again") from None
    return cls(name, exported, weights, input_names)

  def __call__(self, inputs: Dict[str, np.ndarray]) -> np.ndarray:
    missing = sorted(set(self.input_names) - set(inputs))
    if missing:
      raise UserError(f"function {self.name!r} needs inputs {missing}")
    rows = len(next(iter(inputs.values())))
    padded = size_class(rows)
    feed = {k: _pad(np.asarray(inputs[k]), padded) for k in self.input_names}
    return np.asarray(self._call(self.weights, feed))[:rows]


def _pad(a: np.ndarray, rows: int) -> np.ndarray:
  if len(a) == rows:
    return a
  return np.concatenate([a, np.zeros((rows - len(a),) + a.shape[1:], a.dtype)])


def write_function(path: str, exported: jax.export.Exported) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "wb") as f:
    f.write(exported.serialize())
  os.replace(tmp, path)
