#!/usr/bin/env python
"""Offline AVA frame mAP of a detections CSV, as the official ActivityNet script computes it
(``--protocol official``: equal to it run with the same NumPy, see the README) or as the evaluators
users compare with do.

Prints a per-class table grouped by label type and, as the last line, ``mAP@0.5IOU: <value>``.
Malformed input: a ``<file>:<line>: <problem>`` message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

# The metric is pure NumPy: skip registering the torch/Detectron2 components (saves ~700 MB).
os.environ.setdefault("AVA_DETECTOR_NO_REGISTER", "1")

from ava_detector.data import AVAFormatError
from ava_detector.evaluation.csv_io import atomic_output
from ava_detector.evaluation.evaluate_files import evaluate_files
from ava_detector.evaluation.frame_map import PROTOCOLS
from ava_detector.evaluation.report import format_table, save_bar_chart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelmap", required=True, help="label map pbtxt (v2.1 or v2.2 layout)")
    parser.add_argument("--groundtruth", required=True, help="ground-truth CSV")
    parser.add_argument("--detections", required=True, help="detections CSV (official format)")
    parser.add_argument("--exclusions", default=None, help="excluded timestamps CSV")
    parser.add_argument("--protocol", default="official", choices=sorted(PROTOCOLS))
    parser.add_argument("--json", default=None, help='write {"mAP": ..., "per_class": {"<id>": AP}}')
    parser.add_argument("--plot", default=None, help="write a per-class AP bar chart (PNG)")
    args = parser.parse_args(argv)
    try:
        ev = evaluate_files(args.labelmap, args.groundtruth, args.detections, args.exclusions,
                            args.protocol)
    except AVAFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = ev.result
    print(format_table(result, ev.label_map))
    if args.json:
        payload = {"mAP": result.mAP, "protocol": result.protocol, "per_class": {
            str(c): (None if math.isnan(ap) else ap) for c, ap in sorted(result.per_class.items())}}
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(payload, indent=1) + "\n")
    if args.plot:
        save_bar_chart(args.plot, result, ev.label_map)
    print(f"mAP@0.5IOU: {result.mAP:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
