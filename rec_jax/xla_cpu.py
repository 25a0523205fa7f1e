"""Which library runs XLA:CPU's matrix products, chosen before JAX starts its CPU backend.

jaxlib's XLA:CPU hands dots to YNNPACK by default. On this project's 2-core reference machine that is the faster
choice for large square products (a 2048^3 fp32 matmul: ~180 vs ~136 GFLOP/s), but for BERT's shapes (e.g. a
64x64 batch of MiniLM: [4096, 384] x [384, 1536]) XLA's own Eigen-based dots are ~15-20 % faster end to end
(`python benchmarks/text_tower.py --cpu_dots default|eigen`). `parallel.cpu_dots` (rec_jax.main) and the
benchmark's `--cpu_dots` select it: "default" leaves XLA's choice, "eigen" adds
`--xla_cpu_experimental_ynn_fusion_type=` (no YNNPACK fusions) to XLA_FLAGS. XLA reads the flags once, when the
backend starts, so this must run before the first JAX computation; a user's own setting of that flag wins.
Other dot libraries give slightly different float rounding, so metrics differ in the last digits.
"""

from __future__ import annotations

import os

from rec_jax.errors import UserError

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
CPU_DOTS = {"default": "", "eigen": f"{YNN_FLAG}="}


def _backend_started() -> bool:
  try:
    from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):
    return False


def select_cpu_dots(library: str) -> str:
  """Sets XLA_FLAGS for `library` (a key of CPU_DOTS); returns the XLA_FLAGS now in effect."""
  if library not in CPU_DOTS:
    raise UserError(f"cpu_dots={library!r}: valid are {', '.join(CPU_DOTS)}")
  flags = os.environ.get("XLA_FLAGS", "")
  if not CPU_DOTS[library] or YNN_FLAG in flags:
    return flags
  if _backend_started():
    raise UserError(f"cpu_dots={library!r} must be chosen before JAX starts its backend (it sets XLA_FLAGS); "
                    f"set XLA_FLAGS={CPU_DOTS[library]} in the environment instead")
  os.environ["XLA_FLAGS"] = f"{flags} {CPU_DOTS[library]}".strip()
  return os.environ["XLA_FLAGS"]
