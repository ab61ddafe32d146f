"""Evaluation: a reproducible offline corpus, the paper's metrics, baselines and one report."""
