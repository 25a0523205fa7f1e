"""The tasks, keyed by the config's `task`: the module `rec_jax.tasks.<name>` defines `Options` (its options, read
from `task_options`) and `TASK` (task.py's `Task`), which owns what a model is trained and measured on: the rows it trains on (and any extra batch), its loss, its
evaluation protocol (rec_jax/evaluation/protocols.py), its options (`task_options`) and its metric facts."""

from rec_jax.registry import ModuleRegistry

TASKS = ModuleRegistry("task", __name__, "TASK")
