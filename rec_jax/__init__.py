"""rec_jax: JAX/Flax (nnx) research code for recommender models."""
