"""Benchmarks run by tools/benchmark.py: one module per subcommand with ``add_arguments`` and ``run``
(``pyslowfast_ava``: the PySlowFast loader the data and scale benchmarks time beside ours)."""
