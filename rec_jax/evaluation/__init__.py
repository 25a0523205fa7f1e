"""Evaluation: metrics and the protocols that compute them on slices of a split."""
