"""Generate the synthetic AVA-format dataset (the embedded default) or its tiny Kinetics sibling.

    python data_prep/make_synthetic_ava.py [--out datasets/ava_synthetic] [--train-videos 16]
        [--val-videos 6] [--duration 10] [--width 160 --height 120] [--persons 2 3] [--seed 0] [--force]
    python data_prep/make_synthetic_ava.py --kinetics [--out datasets/kinetics_synthetic]

Layout and content: ``ava_detector.ava.data.synthetic`` (frames, frame lists, CSVs, label map, mp4
videos, ``dataset.json``). Registered as ``ava_synthetic_{train,val}`` when written to
``$AVA_SYNTHETIC_DATASETS`` or ``datasets/ava_synthetic``.
"""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.kinetics.data.synthetic import generate_synthetic_kinetics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="output folder (replaced only with --force)")
    p.add_argument("--kinetics", action="store_true", help="write the Kinetics-format variant")
    p.add_argument("--train-videos", type=int, default=16)
    p.add_argument("--val-videos", type=int, default=6)
    p.add_argument("--duration", type=int, default=10, help="seconds per video (AVA) / clip length")
    p.add_argument("--start-sec", type=int, default=100, help="movie second of the first frame")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--persons", type=int, nargs=2, default=(2, 3), metavar=("MIN", "MAX"))
    p.add_argument("--wave-period", type=int, default=10, help="hand-wave period in frames")
    p.add_argument(
        "--per-class",
        type=int,
        nargs=2,
        default=(8, 2),
        metavar=("TRAIN", "VAL"),
        help="Kinetics clips per class",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jpeg-quality", type=int, default=85)
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    args = p.parse_args(argv)
    spec = SceneSpec(
        width=args.width,
        height=args.height,
        fps=args.fps,
        start_sec=args.start_sec,
        duration=args.duration,
        persons=tuple(args.persons),
        wave_period=args.wave_period,
    )
    try:
        if args.kinetics:
            s = generate_synthetic_kinetics(
                args.out or "datasets/kinetics_synthetic",
                train_per_class=args.per_class[0],
                val_per_class=args.per_class[1],
                seconds=min(args.duration, 3),
                spec=spec,
                seed=args.seed,
                force=args.force,
            )
            print(tabulate([[k, n] for k, n in s["clips"].items()], headers=["split", "clips"]))
        else:
            s = generate_synthetic_ava(
                args.out or "datasets/ava_synthetic",
                train_videos=args.train_videos,
                val_videos=args.val_videos,
                spec=spec,
                seed=args.seed,
                jpeg_quality=args.jpeg_quality,
                force=args.force,
            )
            rows = [
                [
                    split,
                    d["videos"],
                    d["keyframes"],
                    d["boxes"],
                    d["proposals"],
                    ", ".join(f"{k} {n}" for k, n in d["labels"].items()),
                ]
                for split, d in s["splits"].items()
            ]
            print(
                tabulate(
                    rows, headers=["split", "videos", "keyframes", "boxes", "proposals", "labels"]
                )
            )
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {s['root']}: {s['bytes'] / 1e6:.1f} MB in {s['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
