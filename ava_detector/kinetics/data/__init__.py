"""Kinetics data: ``path label`` lists, dataset registration, test views, the synthetic set."""
