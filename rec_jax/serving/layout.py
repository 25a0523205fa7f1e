"""The files of an export directory (serving/export_run.py writes them, serving/bundle.py reads them)."""

FORMAT = "rec_jax.export/1"
MANIFEST = "manifest.json"
FUNCTIONS_DIR, WEIGHTS_DIR, TOKENIZER_DIR = "functions", "weights", "tokenizer"
ITEMS_FILE, USERS_FILE, REFERENCE_FILE = "items.npz", "users.npz", "reference.json"
