"""Export an AVA-format dataset's boxes (ground truth or detections) to CVAT or Label Studio, so
annotators correct them instead of starting from nothing.

    python data_prep/export_annotations.py --root DIR --to cvat|label-studio --out OUT
        [--split train|val|both] [--detections detections.csv --score-thresh 0.5
         --class-thresh NAME=T ...] [--fps F] [--keyframe-rate R] [--width W --height H]
        [--person-label person] [--skip-label skip] [--video-url 'videos/{video_id}.mp4']
        [--from-name box --to-name video] [--force]

CVAT: ``OUT/<video_id>.xml`` (CVAT for video 1.1, one task per video; upload it to the video's task).
Label Studio: ``OUT/tasks.json`` (tasks with predictions; import it into the project). Frame rate,
keyframe rate and sizes come from ``DIR/dataset.json`` unless given. Formats:
``ava_detector.ava.annotations.export``. Errors: one line naming the file (exit 2); nothing written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ava_detector.ava.annotations.ava_reader import (
    parse_ava_rows,
    parse_exclusion_rows,
    videos_from_ava,
)
from ava_detector.ava.annotations.ava_writer import (
    LABEL_MAP_NAME,
    parse_rate,
)
from ava_detector.ava.annotations.export import (
    dumps_tasks,
    to_cvat_xml,
    to_label_studio_tasks,
)
from ava_detector.ava.data.label_map import read_label_map
from ava_detector.ava.data.register import read_dataset_json
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import replace_folder


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputFileError(path, None, f"cannot read {what}: {e.strerror}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="the AVA-format dataset folder")
    p.add_argument("--to", required=True, choices=["cvat", "label-studio"])
    p.add_argument("--out", required=True, help="output folder (replaced only with --force)")
    p.add_argument("--split", default="both", choices=["train", "val", "both"])
    p.add_argument(
        "--detections",
        default=None,
        help="detections CSV (…,action_id,score) instead of the ground truth",
    )
    p.add_argument("--score-thresh", type=float, default=0.5, help="detections: lowest score kept")
    p.add_argument(
        "--class-thresh",
        action="append",
        default=[],
        metavar="NAME=T",
        help="detections: a class's own threshold (repeatable)",
    )
    p.add_argument("--fps", type=float, default=None)
    p.add_argument("--keyframe-rate", default=None)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--person-label", default="person")
    p.add_argument("--skip-label", default="skip")
    p.add_argument("--video-url", default="videos/{video_id}.mp4", help="Label Studio data.video")
    p.add_argument("--from-name", default="box", help="Label Studio VideoRectangle name")
    p.add_argument("--to-name", default="video", help="Label Studio Video name")
    p.add_argument("--force", action="store_true")
    return p


def load_videos(args):
    root = Path(args.root)
    info = read_dataset_json(root / "dataset.json") if (root / "dataset.json").is_file() else {}
    fps = args.fps or info.get("fps")
    if not fps:
        raise InputFileError(root / "dataset.json", None, "no frame rate: pass --fps")
    rate = parse_rate(args.keyframe_rate or info.get("keyframe_rate", 1))
    label_map = read_label_map(root / "annotations" / LABEL_MAP_NAME)
    splits = ["train", "val"] if args.split == "both" else [args.split]
    rows, exclusions = [], []
    if args.detections:
        rows = parse_ava_rows(
            _read(Path(args.detections), "detections"), args.detections, detections=True
        )
        source = args.detections
    else:
        for s in splits:
            path = root / "annotations" / f"ava_{s}_v2.2.csv"
            rows += parse_ava_rows(_read(path, "annotations"), path)
        source = str(root / "annotations")
    for s in splits:
        path = root / "annotations" / f"ava_{s}_excluded_timestamps_v2.2.csv"
        if path.is_file():
            exclusions += parse_exclusion_rows(_read(path, "exclusions"), path)
    thresholds = {}
    for item in args.class_thresh:
        name, _, value = item.rpartition("=")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise ValueError(f"--class-thresh {item!r}: expected NAME=THRESHOLD") from None
        if name not in label_map.names.values():
            raise ValueError(f"--class-thresh {item!r}: {name!r} is not a class of the label map")
    videos = videos_from_ava(
        rows,
        label_map.names,
        fps=float(fps),
        rate=rate,
        exclusions=exclusions,
        video_info=info.get("videos"),
        width=args.width or info.get("width", 0),
        height=args.height or info.get("height", 0),
        detections=bool(args.detections),
        score_thresh=args.score_thresh,
        class_thresh=thresholds,
        path=source,
    )
    if args.detections and info.get("videos"):
        wanted = {v for v, d in info["videos"].items() if d.get("split") in splits}
        videos = [v for v in videos if v.video_id in wanted]
    classes = [label_map.names[i] for i in label_map.ids]
    return videos, classes


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        if out.exists() and not args.force:
            raise FileExistsError(f"{out} exists (pass --force to replace it)")
        videos, classes = load_videos(args)
        files = {}
        if args.to == "cvat":
            for v in videos:
                files[f"{v.video_id}.xml"] = to_cvat_xml(
                    v,
                    classes,
                    person_label=args.person_label,
                    skip_label=args.skip_label,
                    source="auto" if args.detections else "manual",
                )
        else:
            tasks = to_label_studio_tasks(
                videos,
                video_url=args.video_url,
                from_name=args.from_name,
                to_name=args.to_name,
                skip_label=args.skip_label,
            )
            files["tasks.json"] = dumps_tasks(tasks)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        replace_folder(tmp, out)
    except (InputFileError, ValueError, FileExistsError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = sum(len(t.spans) for v in videos for t in v.tracks)
    print(
        f"wrote {len(files)} file(s) to {out}: {len(videos)} videos, "
        f"{sum(len(v.tracks) for v in videos)} persons, {n} spans"
    )
    print(json.dumps(sorted(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
