"""rec_jax.analysis: open any run's workdir in a notebook or script without copying training code.

    from rec_jax import analysis
    run = analysis.load_run("/tmp/rec_jax/synthetic", checkpoint="best")   # or "latest"
    analysis.evaluate(run, "test", slice="cold")          # the run's own metrics on a slice
    vectors = analysis.item_embeddings(run, tower="text")  # [num_items, dim], catalogue order
    analysis.top_k(run, user="u42", k=10)                   # seen items excluded
    analysis.permutation_importance(run, "test")            # metric drop per field
    analysis.learning_curves(run.workdir)                   # from metrics.jsonl

It reads only the workdir's files (config.json, feature_processor.json, metrics.jsonl, results.json, checkpoints)
and the dataset the config names; it writes nothing there.
"""

from rec_jax.analysis.embeddings import item_embeddings, nearest_items, project_2d, user_embeddings
from rec_jax.analysis.loaded_run import LoadedRun, learning_curves, load_run
from rec_jax.analysis.scoring import evaluate, permutation_importance, predict, select_rows, slice_rows, top_k

__all__ = ["LoadedRun", "load_run", "learning_curves", "evaluate", "predict", "select_rows", "slice_rows", "top_k",
           "permutation_importance", "item_embeddings", "user_embeddings", "nearest_items", "project_2d"]
