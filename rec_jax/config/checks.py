"""Range and consistency checks of a config, run before any work (train.py's first step, before the workdir is
touched): a value that would divide by zero, train nothing, or fail only after training (a best-checkpoint metric
the evaluation never produces) is refused up front, every problem in one line.

The options of the registries' entries (crosses, history encoders, models, tasks) and the feature options check
their own values when they are read (rec_jax/options.py's dataclasses); this module covers the sections train.py,
the evaluation and the checkpoints read directly, the shared sizes of the model, and the relations between keys.
"""

from __future__ import annotations

import math
import re
from typing import Callable, List, Optional

from rec_jax.data.prefetch import MAX_PREFETCH
from rec_jax.errors import UserError

Rule = Callable[[object], Optional[str]]   # value -> what is wrong with it, or None


def _is_int(v) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def integer(low: int, high: Optional[int] = None, *, also=()) -> Rule:
  def rule(v):
    if v in also and _is_int(v):
      return None
    if not _is_int(v):
      return f"must be an integer, not {type(v).__name__}"
    if v < low or (high is not None and v > high):
      return f"must be >= {low}" + (f" and <= {high}" if high is not None else "") + (
          f" (or {', '.join(map(str, also))})" if also else "")
    return None
  return rule


def number(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False) -> Rule:
  def rule(v):
    if not _is_number(v):
      return f"must be a number, not {type(v).__name__}"
    if not math.isfinite(v):
      return "must be finite"
    if v < low or (low_open and v == low) or v > high or (high_open and v == high):
      lo = f"{'>' if low_open else '>='} {low:g}"
      hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
      return f"must be {lo}{hi}"
    return None
  return rule


def sizes(low: int = 1, *, empty: bool = True) -> Rule:
  """A tuple of integers >= low (layer widths, the K of metrics)."""
  def rule(v):
    if not isinstance(v, (tuple, list)):
      return f"must be a tuple of integers, not {type(v).__name__}"
    if not v and not empty:
      return "must not be empty"
    bad = [x for x in v if not _is_int(x) or x < low]
    return f"has {bad}: every entry must be an integer >= {low}" if bad else None
  return rule


def choice(*valid) -> Rule:
  return lambda v: None if v in valid else f"must be one of {', '.join(map(repr, valid))}"


def text(v) -> Optional[str]:
  return None if isinstance(v, str) and v else "must be a non-empty string"


POSITIVE, NON_NEGATIVE = integer(1), integer(0)
# key -> rule; a key a config does not have (e.g. data.max_bad_fraction of the synthetic shop) is not checked.
RULES = {
    "seed": NON_NEGATIVE,
    "train.num_steps": POSITIVE,
    "train.batch_size": POSITIVE,
    "train.learning_rate": number(0, low_open=True),
    "train.warmup_steps": NON_NEGATIVE,
    "train.final_lr_fraction": number(0, 1),
    "train.weight_decay": number(0),
    "train.embedding_decay": number(0),
    "train.embedding_l2": number(0),
    "train.embedding_table_l2": number(0),
    "train.beta1": number(0, 1, high_open=True),
    "train.beta2": number(0, 1, high_open=True),
    "train.grad_clip_norm": number(0, low_open=True),
    "train.log_every": POSITIVE,
    "train.early_stopping.patience": NON_NEGATIVE,
    "train.early_stopping.min_delta": number(0),
    "eval.every_steps": POSITIVE,
    "eval.batch_size": POSITIVE,
    "eval.ndcg_k": POSITIVE,
    "eval.ks": sizes(empty=False),
    "eval.split": text,
    "eval.final_split": text,
    "checkpoint.every_steps": POSITIVE,
    "checkpoint.keep": POSITIVE,
    "checkpoint.keep_best": POSITIVE,
    "checkpoint.best_mode": choice("", "min", "max"),
    "data.max_bad_fraction": number(0, 1),
    "data.data_dir": text,
    "data.implicit_threshold": number(0),
    "data.prefetch": integer(0, MAX_PREFETCH),
    "parallel.num_devices": integer(1, also=(-1,)),
    "parallel.model_axis": integer(1),
    "parallel.shard_min_rows": integer(0),
    "parallel.table_row_multiple": integer(1),
    "features.history_length": NON_NEGATIVE,
    "features.text_max_length": POSITIVE,
    "features.query_max_length": POSITIVE,
    "features.min_count": POSITIVE,
    "model.embed_dim": POSITIVE,
    "model.cf_dim": NON_NEGATIVE,
    "model.mlp": sizes(),
    "model.mlp_dropout": number(0, 1, high_open=True),
    "model.embedding_init_std": number(0),
    "model.text.bert.hidden_size": POSITIVE,
    "model.text.bert.intermediate_size": POSITIVE,
    "model.text.bert.num_heads": POSITIVE,
    "model.text.bert.num_layers": POSITIVE,
    "model.text.trainable_layers": NON_NEGATIVE,
}


def _get(config, key: str):
  node = config
  for part in key.split("."):
    if not hasattr(node, "keys") or part not in node.keys():
      return _MISSING
    node = node[part]
  return node


_MISSING = object()


def _range_problems(config) -> List[str]:
  problems = []
  for key, rule in RULES.items():
    value = _get(config, key)
    if value is _MISSING:
      continue
    if isinstance(value, list):
      value = tuple(value)   # config.json gives tuples back as lists
    problem = rule(value)
    if problem:
      problems.append(f"{key}={value!r} {problem}")
  return problems


def _relation_problems(config) -> List[str]:
  problems = []
  text_heads, text_width = _get(config, "model.text.bert.num_heads"), _get(config, "model.text.bert.hidden_size")
  if _is_int(text_heads) and _is_int(text_width) and text_heads > 0 and text_width % text_heads:
    problems.append(f"model.text.bert.hidden_size={text_width} must be a multiple of model.text.bert.num_heads="
                    f"{text_heads}")
  return problems


def _dict_problems(config) -> List[str]:
  """The dict-valued options: {regex: factor} of train.lr_multipliers, {column: buckets} of features.hash_buckets."""
  problems = []
  multipliers = _get(config, "train.lr_multipliers")
  if multipliers is not _MISSING:
    for key, value in dict(multipliers).items():
      try:
        re.compile(key)
      except re.error as e:
        problems.append(f"train.lr_multipliers[{key!r}]: not a regular expression ({e})")
      problem = number(0)(value)
      if problem:
        problems.append(f"train.lr_multipliers[{key!r}]={value!r} {problem}")
  buckets = _get(config, "features.hash_buckets")
  if buckets is not _MISSING:
    encoded = {_get(config, "features.user_id"), _get(config, "features.item_id"),
               *(_get(config, "features.categorical") or ())}
    for column, n in dict(buckets).items():
      problem = integer(0)(n)
      if problem:
        problems.append(f"features.hash_buckets[{column!r}]={n!r} {problem} (0: a fitted vocabulary)")
      if column not in encoded:
        problems.append(f"features.hash_buckets[{column!r}]: {column!r} is not a column the features encode by "
                        f"vocabulary (features.categorical, user_id, item_id: "
                        f"{', '.join(sorted(c for c in encoded if isinstance(c, str)))})")
  return problems


def best_metric_problem(metric: str, produced: Callable[[str], bool], task: str) -> Optional[str]:
  """What is wrong with `checkpoint.best_metric` for a task whose evaluation produces the names `produced`
  accepts, or None."""
  if not metric or produced(metric):
    return None
  return (f"checkpoint.best_metric={metric!r} is not a metric task={task!r} reports with this eval section "
          f"(metric names look like auc, logloss, ndcg@10, hit@10/cold; the K must be one of eval.ks or eval.ndcg_k)")


def best_mode_problem(metric: str, mode, lower_is_better: bool) -> Optional[str]:
  """A `checkpoint.best_mode` against the direction of the metric it picks by: the opposite one keeps the worst
  checkpoint as the best."""
  right = "min" if lower_is_better else "max"
  if mode in ("", right) or mode is _MISSING:
    return None
  return (f"checkpoint.best_mode={mode!r} would keep the checkpoint of the {'highest' if mode == 'max' else 'lowest'} "
          f"{metric}, the worst one ({metric} is better {'lower' if lower_is_better else 'higher'}); leave "
          f"checkpoint.best_mode empty (the metric's own direction) or set it to {right!r}")


def _duplicate_problems(config) -> List[str]:
  """A column listed twice in a features list (it was embedded twice, as two fields)."""
  problems = []
  for key in ("features.categorical", "features.numeric", "features.text", "features.user_features",
              "features.item_features", "eval.ks"):
    values = _get(config, key)
    if values is _MISSING or not isinstance(values, (tuple, list)):
      continue
    twice = sorted({v for v in values if list(values).count(v) > 1}, key=str)
    if twice:
      problems.append(f"{key}={tuple(values)!r} lists {', '.join(map(repr, twice))} more than once")
  return problems


def check_config(config) -> None:
  """Raises UserError listing every out-of-range value and impossible combination of `config`."""
  problems = _range_problems(config) + _relation_problems(config) + _dict_problems(config) + \
      _duplicate_problems(config)
  task = _get(config, "task")
  metric = _get(config, "checkpoint.best_metric")
  if not problems and isinstance(task, str) and isinstance(metric, str):
    from rec_jax.tasks import TASKS   # pylint: disable=import-outside-toplevel  (the task registry imports JAX)
    spec = TASKS.get(task).TASK
    problem = best_metric_problem(metric, lambda m: spec.evaluation.produces(m, config.eval), task) if metric \
        else None
    if problem:
      problems.append(problem)
    problem = best_mode_problem(metric or spec.metrics.best, _get(config, "checkpoint.best_mode"),
                                spec.metrics.lower_is_better(metric or spec.metrics.best))
    if problem:
      problems.append(problem)
  if problems:
    raise UserError("; ".join(problems))


def metric_pattern(bases, ks) -> "re.Pattern":
  """Names `<base>[@K][/warm|/cold]` for the given bases (those ending in '@' need a K from `ks`)."""
  plain = [re.escape(b) for b in bases if not b.endswith("@")]
  ranked = [re.escape(b) for b in bases if b.endswith("@")]
  k = "|".join(str(int(x)) for x in ks)
  alternatives = plain + ([f"(?:{'|'.join(ranked)})(?:{k})"] if ranked and k else [])
  return re.compile(f"(?:{'|'.join(alternatives)})(?:/(?:warm|cold))?")
