#!/usr/bin/env python
"""Per-action score thresholds for the demo, calibrated on a validation split (best F1 per action).

    python tools/calibrate_thresholds.py --detections val_detections.csv --groundtruth ava_val_v2.2.csv
        (--weights model_final.pth | --output thresholds.json) [--label-map PBTXT] [--default 0.5]
        [--min-iou 0.5] [--num-classes 80]

``--detections`` is an AVA detections CSV of the model on the split (the evaluation's output, or the
demo's CSV on the split's videos); ``--groundtruth`` the split's AVA CSV. The JSON goes next to the
weights as ``thresholds.json`` (where ``tools/demo.py`` finds it) unless ``--output`` says otherwise.
Bad input gives a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ava_detector.data.errors import InputFileError
from ava_detector.demo.thresholds import (
    THRESHOLDS_FILE,
    calibrate_from_csv,
    save_thresholds,
)


def argument_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--detections", required=True, help="AVA detections CSV on the validation split")
    p.add_argument("--groundtruth", required=True, help="the split's AVA ground-truth CSV")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--weights", help=f"the model: {THRESHOLDS_FILE} is written next to it")
    where.add_argument("--output", help="the thresholds JSON")
    p.add_argument(
        "--label-map",
        default=None,
        help="label map pbtxt (names in the JSON, and the actions listed)",
    )
    p.add_argument(
        "--default", type=float, default=0.5, help="threshold of actions without ground truth"
    )
    p.add_argument(
        "--min-iou", type=float, default=0.5, help="IoU for a detection to match a person"
    )
    p.add_argument("--num-classes", type=int, default=80)
    return p


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    out = Path(args.output) if args.output else Path(args.weights).parent / THRESHOLDS_FILE
    try:
        names = {}
        if args.label_map:
            from ava_detector.ava.data.label_map import read_label_map

            names = dict(read_label_map(args.label_map).names)
        thr, f1 = calibrate_from_csv(
            args.detections, args.groundtruth, args.num_classes, args.default, args.min_iou
        )
    except (InputFileError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    save_thresholds(out, thr, f1, names, source=f"{args.detections} vs {args.groundtruth}")
    shown = [i for i in range(len(thr)) if np.isfinite(f1[i]) and (not names or i + 1 in names)]
    for i in shown:
        print(f"{i + 1:3d} {names.get(i + 1, ''):40.40s} threshold {thr[i]:.3f}  F1 {f1[i]:.3f}")
    print(f"{out}: {len(shown)} actions calibrated, the others at {args.default}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
