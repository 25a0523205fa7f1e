"""Experiment launchers: sweeps of runs and the aggregation of their results into tables."""
