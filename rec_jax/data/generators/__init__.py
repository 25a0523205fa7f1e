"""Synthetic data written in the formats of real public datasets, so the real loaders read it at any scale (e.g.
`criteo_like`: a Criteo Kaggle `train.txt` with a planted click model)."""
