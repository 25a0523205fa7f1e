"""Collaborative-filtering tower: id embeddings and behaviour-history encoders."""
