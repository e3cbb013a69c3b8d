"""Command-line scripts: ``python -m experiments.train`` and ``python -m experiments.evaluate``."""
