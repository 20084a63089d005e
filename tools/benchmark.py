"""Benchmarks that print figures: ``python tools/benchmark.py {eval,data,model,...} [options]``.

Each subcommand is a module ``ava_detector.benchmarks.<name>`` with ``add_arguments(parser)`` and
``run(args)`` (a module without them, e.g. ``pyslowfast_ava``, is a helper the others share); this
script only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import ava_detector.benchmarks as benchmarks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="name", required=True)
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
        if not (hasattr(module, "add_arguments") and hasattr(module, "run")):
            continue
        p = sub.add_parser(info.name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
