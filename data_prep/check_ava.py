"""The data doctor: check an AVA-format dataset before training.

    python data_prep/check_ava.py --root datasets/ava [--split val] [--version v2.2] [--decode-all]

Checks that the CSVs parse (every malformed row listed with file:line), every frame / video a
keyframe needs exists and decodes, frame counts and fps fit the timestamps, and the proposals cover
the annotated keyframes; then reports proposal quality against the ground-truth person boxes
(recall at IoU 0.5 for score >= --score-thresh, and AP@0.5 through pycocotools' COCOeval; the
paper's detector: 93.9 AP@50, recall 91.1% at score > 0.8). Exits 1 listing the offending files
when a check fails. ``start_sec`` / ``fps`` come from the root's dataset.json, else 900 / 30.
"""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from ava_detector.data.ava import ava_layout
from ava_detector.data.ava.doctor import run_checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="dataset root (frames/, frame_lists/, annotations/, videos/)")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--version", default="v2.2", choices=["v2.2", "v2.1"])
    p.add_argument("--start-sec", type=float, default=None, help="movie second of frame 0")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the frame timeline")
    p.add_argument("--score-thresh", type=float, default=0.8)
    p.add_argument("--decode-all", action="store_true", help="decode every frame, not only keyframes")
    args = p.parse_args(argv)
    checks, figures = run_checks(
        ava_layout(args.root, args.split, args.version), start_sec=args.start_sec, fps=args.fps,
        score_thresh=args.score_thresh, decode_all=args.decode_all,
    )
    print(tabulate([[c.name, c.status, c.detail] for c in checks], headers=["check", "status", "detail"]))
    if figures:
        print(f"\nproposals vs GT person boxes: recall@IoU0.5 (score >= {figures['score_thresh']:g}) "
              f"{100 * figures['recall']:.1f}%, AP@0.5 {100 * figures['ap50']:.1f}")
    failed = [c for c in checks if c.status == "FAIL"]
    for c in checks:
        if c.files:
            print(f"\n{c.status} {c.name}:")
            print("\n".join(f"  {f}" for f in c.files))
    if failed:
        print(f"\n{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}", file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
