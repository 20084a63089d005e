"""Person proposals for every keyframe of a dataset, with a Detectron2 detector and local weights.

    python data_prep/make_proposals.py --root datasets/my_set --split val \\
        --detector-config COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml --detector-weights model_final.pkl \\
        [--out FILE] [--threshold 0.5] [--batch-size 8] [--device auto] [--source frames|video] \\
        [--force] [KEY VALUE ...]

Writes AVA's detection CSV (``video_id,sec,x1,y1,x2,y2,,score``), by default where the layout reads
proposals from: ``ROOT/annotations/ava_detection_{split}_boxes_and_labels.csv``. The keyframes are
the split's (its annotations and, if present, its current proposals); the dataset's ``dataset.json``
gives start second and frame rate. Batched, on the GPU when there is one (``--device auto``), with a
progress bar; a stopped run continues where it stopped (finished videos are kept in
``OUT.partial/``). The weights are read safely (never unpickled with code); trailing ``KEY VALUE``
pairs override the detector's config (e.g. ``INPUT.MIN_SIZE_TEST 600``). Exits 2 with one line on bad
input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

# Imported before Detectron2: the package's import filters Detectron2's import-time warnings.
from ava_detector.data.errors import InputFileError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--root", required=True, help="dataset root in the AVA layout, with dataset.json"
    )
    p.add_argument("--split", required=True, choices=["train", "val"])
    p.add_argument(
        "--detector-config", required=True, help="YAML file or Detectron2 model-zoo name"
    )
    p.add_argument("--detector-weights", required=True, help="local weights file (.pkl or .pth)")
    p.add_argument("--out", default="", help="output CSV (default: the layout's proposals file)")
    p.add_argument("--threshold", type=float, default=0.5, help="minimum person score kept")
    p.add_argument("--batch-size", type=int, default=8, help="keyframes per detector call")
    p.add_argument(
        "--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ..."
    )
    p.add_argument(
        "--source",
        default="frames",
        choices=["frames", "video"],
        help="read keyframes from the frame folders or the videos",
    )
    p.add_argument(
        "--person-class", type=int, default=0, help="the detector's person class (COCO: 0)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="detector config overrides")
    args = p.parse_args(argv)
    prog = Path(sys.argv[0]).name

    from detectron2.data import DatasetCatalog

    from ava_detector.ava.data.proposals import make_proposals
    from ava_detector.ava.data.register import (
        ava_layout,
        register_ava,
    )
    from ava_detector.demo.person_detector import (
        PersonDetector,
        build_person_detector_cfg,
    )

    out = Path(args.out) if args.out else Path(ava_layout(args.root, args.split).proposals[0])
    if out.exists() and not args.force:
        print(f"{prog}: error: {out} exists (--force to replace it)", file=sys.stderr)
        return 2
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    try:
        name = f"make_proposals_{args.split}"
        register_ava(
            name, root=args.root, split=args.split, start_sec=None, fps=None, num_classes=None
        )
        records = DatasetCatalog.get(name)
        if not records:
            raise ValueError(f"{args.root}: the {args.split} split has no keyframes")
        cfg = build_person_detector_cfg(
            args.detector_config, args.detector_weights, args.threshold, device
        )
        if args.opts:
            cfg.defrost()
            cfg.merge_from_list(args.opts)
            cfg.freeze()
        detector = PersonDetector(cfg, person_class=args.person_class)
        summary = make_proposals(
            records, detector.detect_batch, out, source=args.source, batch_size=args.batch_size
        )
    except (InputFileError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {out}: {summary['boxes']} person boxes on {summary['keyframes']} keyframes of "
        f"{summary['videos']} videos ({device}"
        + (
            f"; {summary['resumed_videos']} videos from an earlier run"
            if summary["resumed_videos"]
            else ""
        )
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
