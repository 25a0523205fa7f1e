r"""python -m launch.sweep --config=configs/synthetic.py --sweep=configs/sweeps/tower_ablation.py --workdir=/tmp/rec_jax/towers
python -m launch.aggregate --sweep_dir=/tmp/rec_jax/towers --baseline=text+cf+cross

The three towers of the default hybrid (text, CF, feature crosses) each on and off, all 2^3 combinations, on the
synthetic shop with seeds 0, 1 and 2. Arguments after the colon, comma-separated: `seeds=N` (default 3), `smoke`
(the tiny shop, for checking the sweep itself), `leave_one_out` (only the full model and one tower off at a time).
"""

import itertools

TOWERS = ("text", "cf", "cross")


def _overrides(on):
  return {"model.use_text": "text" in on, "model.use_cf": "cf" in on,
          "model.cross": "deepfm" if "cross" in on else "none"}


def _name(on):
  return "+".join(on) if on else "none"


def get_sweep(arg=None):
  parts = dict(p.partition("=")[::2] for p in (arg or "").split(",") if p)
  unknown = set(parts) - {"seeds", "smoke", "leave_one_out"}
  if unknown:
    raise ValueError(f"unknown argument(s) {sorted(unknown)} of tower_ablation.py; valid: seeds=N, smoke, "
                     "leave_one_out")
  combos = [tuple(t for t, keep in zip(TOWERS, mask) if keep)
            for mask in itertools.product((True, False), repeat=len(TOWERS))]
  if "leave_one_out" in parts:
    combos = [c for c in combos if len(c) >= len(TOWERS) - 1]
  variants = [dict(name=_name(on), preset="smoke" if "smoke" in parts else "", overrides=_overrides(on))
              for on in combos]
  return dict(variants=variants, seeds=tuple(range(int(parts.get("seeds") or 3))), baseline=_name(TOWERS))
