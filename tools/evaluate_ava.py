#!/usr/bin/env python
"""Offline AVA frame mAP of a detections CSV, as the official ActivityNet script computes it
(``--protocol official``: equal to it run with the same NumPy, see the README) or as the evaluators
users compare with do.

Prints a per-class table grouped by label type and, as the last line, ``mAP@0.5IOU: <value>``.
Malformed input: a ``<file>:<line>: <problem>`` message and exit code 2.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys

# Arrays of millions of rows come and go. Without huge pages (NumPy asks for them on large arrays)
# and with glibc keeping freed blocks for reuse instead of handing each back to the system, the
# kernel zero-fills far less memory: on a 10M-row file the process's system time halves.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

from ava_detector.ava.evaluation.evaluate_files import evaluate_files
from ava_detector.ava.evaluation.protocols import PROTOCOLS
from ava_detector.ava.evaluation.report import (
    format_table,
    save_bar_chart,
)
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_output


def _keep_freed_memory() -> None:
    """glibc ``mallopt``: serve large blocks from the heap (M_MMAP_THRESHOLD) and keep freed ones
    there (M_TRIM_THRESHOLD) for the next arrays; a no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)
        libc.mallopt(-1, 1 << 31)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelmap", required=True, help="label map pbtxt (v2.1 or v2.2 layout)")
    parser.add_argument("--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("--detections", required=True, help="detections CSV (official format)")
    parser.add_argument("--exclusions", default=None, help="excluded timestamps CSV")
    parser.add_argument("--protocol", default="official", choices=sorted(PROTOCOLS))
    parser.add_argument(
        "--json", default=None, help='write {"mAP": ..., "per_class": {"<id>": AP}}'
    )
    parser.add_argument("--plot", default=None, help="write a per-class AP bar chart (PNG)")
    args = parser.parse_args(argv)
    _keep_freed_memory()
    try:
        ev = evaluate_files(
            args.labelmap, args.groundtruth, args.detections, args.exclusions, args.protocol
        )
    except InputFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = ev.result
    print(format_table(result, ev.label_map))
    if args.json:
        payload = {
            "mAP": result.mAP,
            "protocol": result.protocol,
            "per_class": {
                str(c): (None if math.isnan(ap) else ap)
                for c, ap in sorted(result.per_class.items())
            },
        }
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(payload, indent=1) + "\n")
    if args.plot:
        save_bar_chart(args.plot, result, ev.label_map)
    print(f"mAP@0.5IOU: {result.mAP:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
