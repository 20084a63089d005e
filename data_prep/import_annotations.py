"""Import annotation-tool exports (CVAT for video 1.1, Label Studio, VIA 3) as an AVA-format dataset.

    python data_prep/import_annotations.py EXPORT [EXPORT ...] --out DIR [--format auto|cvat|label-studio|via]
        [--fps F] [--width W --height H] [--videos-dir D | --frames-dir D]
        [--mapping FILE.yaml] [--person-label person] [--actions-from attributes|labels|both]
        [--skip NAME] [--track-attribute NAME] [--keyframe-rate 1] [--classes FILE]
        [--val-ratio 0.2 --seed 0 | --val-videos a,b] [--force]

Writes ``DIR/annotations/ava_{train,val}_v2.2.csv`` (+ excluded timestamps, label map of the user's
classes), ``DIR/dataset.json``, and links ``DIR/frames`` (with ``frame_lists/``) or ``DIR/videos``.
The formats, the mapping file and the keyframe times: docs/custom_dataset.md and
``ava_detector.ava.annotations``. A bad input stops with one line naming the file and the element
(exit 2); nothing is written then.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from tabulate import tabulate

from ava_detector.ava.annotations.ava_writer import (
    build_ava_tables,
    parse_rate,
    split_videos,
    write_ava_dataset,
)
from ava_detector.ava.annotations.cvat import (
    cvat_video_id,
    parse_cvat_video,
    safe_video_id,
)
from ava_detector.ava.annotations.label_studio import parse_label_studio
from ava_detector.ava.annotations.mapping import (
    load_mapping,
    mapping_from_dict,
)
from ava_detector.ava.annotations.tracks import ImportResult
from ava_detector.ava.annotations.via import parse_via3
from ava_detector.data.errors import InputFileError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")


def detect_format(path: Path, data: bytes) -> str:
    """``cvat`` (XML), ``label-studio`` (a JSON array of tasks) or ``via`` (a JSON project object).

    Args:
        path: the file.
        data: its first bytes.
    """
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"<":
        return "cvat"
    if head == b"[":
        return "label-studio"
    if head == b"{":
        return "via" if b'"metadata"' in data and b'"attribute"' in data else "label-studio"
    raise InputFileError(path, None, "not an XML or JSON export (pass --format)")


def read_input(path: Path) -> bytes:
    """The export's bytes (``annotations.xml`` inside a CVAT ``.zip``).

    Args:
        path: the export file.
    """
    try:
        if path.suffix.lower() == ".zip":
            import zipfile

            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith("annotations.xml")]
                if not names:
                    raise InputFileError(path, None, "the archive holds no annotations.xml")
                return z.read(names[0])
        return path.read_bytes()
    except OSError as e:
        raise InputFileError(path, None, f"cannot read: {e.strerror or e}") from None


def probe_video(videos_dir: str | None, video_id: str) -> dict:
    """``{"fps", "frames", "width", "height"}`` of ``<videos_dir>/<video_id>.*`` (PyAV), or ``{}``.

    Args:
        videos_dir: the videos folder (``None``: nothing probed).
        video_id: the video's id (file stem).
    """
    if not videos_dir:
        return {}
    path = next(
        (
            Path(videos_dir) / f"{video_id}{s}"
            for s in VIDEO_SUFFIXES
            if (Path(videos_dir) / f"{video_id}{s}").is_file()
        ),
        None,
    )
    if path is None:
        return {}
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            frames = s.frames or (
                int(float(s.duration * s.time_base) * float(rate)) if s.duration else 0
            )
            return {
                "fps": float(rate),
                "frames": int(frames),
                "width": s.codec_context.width,
                "height": s.codec_context.height,
            }
    except (av.error.FFmpegError, IndexError) as e:
        raise InputFileError(path, None, f"cannot read the video: {e}") from None


def read_classes(path: str) -> list[str]:
    """Class names, one a line (blank lines and ``#`` comments skipped), in id order.

    Args:
        path: the classes file.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputFileError(path, None, f"cannot read classes: {e.strerror}") from None
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise InputFileError(path, None, f"class {n!r} is listed twice")
    if not names:
        raise InputFileError(path, None, "no class names")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "inputs",
        nargs="+",
        help="exports: CVAT .xml/.zip (one per video), Label Studio .json, VIA 3 project .json",
    )
    p.add_argument(
        "--out", required=True, help="dataset folder to write (replaced only with --force)"
    )
    p.add_argument("--format", default="auto", choices=["auto", "cvat", "label-studio", "via"])
    p.add_argument(
        "--fps", type=float, default=None, help="frame rate (CVAT and VIA do not record it)"
    )
    p.add_argument("--width", type=int, default=0, help="frame width when the export lacks it")
    p.add_argument("--height", type=int, default=0, help="frame height when the export lacks it")
    p.add_argument(
        "--videos-dir",
        default=None,
        help="the videos <id>.mp4 (linked as DIR/videos; also read for fps / size when not given)",
    )
    p.add_argument(
        "--frames-dir",
        default=None,
        help="extracted frames <id>/*.jpg (linked as DIR/frames, frame lists written)",
    )
    p.add_argument(
        "--mapping",
        default=None,
        help="YAML/JSON: person_label, actions_from, "
        "attributes, labels, skip, track_attribute, merge_iou",
    )
    p.add_argument("--person-label", default=None)
    p.add_argument("--actions-from", default=None, choices=["attributes", "labels", "both"])
    p.add_argument(
        "--action-attributes",
        default=None,
        help="comma-separated checkbox attributes that are actions (default: all)",
    )
    p.add_argument(
        "--action-labels",
        default=None,
        help="comma-separated labels that are actions (default: all but the person label)",
    )
    p.add_argument(
        "--skip", default=None, help="tag / label / attribute / option marking frames to skip"
    )
    p.add_argument(
        "--track-attribute", default=None, help="VIA: text attribute holding the person id"
    )
    p.add_argument("--video-id", default=None, help="CVAT: the video id of a single input")
    p.add_argument("--video-key", default="", help="Label Studio: the task data field of the video")
    p.add_argument("--use-predictions", action="store_true", help="Label Studio: read predictions")
    p.add_argument("--keyframe-rate", default="1", help="keyframes per second (1, 2, 0.5, 1/3 ...)")
    p.add_argument("--classes", default=None, help="class names, one a line: fixes ids 1..N")
    p.add_argument("--val-ratio", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--val-videos", default=None, help="comma-separated val videos (instead of the ratio)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    return p


def mapping_from_args(args):
    d = load_mapping(args.mapping) if args.mapping else {}
    for key in ("person_label", "actions_from", "skip", "track_attribute"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    if args.action_attributes is not None:
        d["attributes"] = {a: a for a in args.action_attributes.split(",") if a}
    if args.action_labels is not None:
        d["labels"] = {a: a for a in args.action_labels.split(",") if a}
        d.setdefault("actions_from", "labels")
    return mapping_from_dict(d, args.mapping or "<command line>")


def import_all(args) -> ImportResult:
    mapping = mapping_from_args(args)
    total = ImportResult()
    if args.video_id and len(args.inputs) > 1:
        raise ValueError("--video-id names the video of a single input")
    for name in args.inputs:
        path = Path(name)
        data = read_input(path)
        fmt = args.format if args.format != "auto" else detect_format(path, data)
        if fmt == "cvat":
            vid = args.video_id or cvat_video_id(data, path)
            probed = probe_video(args.videos_dir, vid)
            r = parse_cvat_video(
                data,
                path,
                mapping=mapping,
                fps=args.fps or probed.get("fps"),
                video_id=vid,
                width=args.width or probed.get("width"),
                height=args.height or probed.get("height"),
            )
        elif fmt == "label-studio":
            r = parse_label_studio(
                data,
                path,
                mapping=mapping,
                fps=args.fps,
                width=args.width,
                height=args.height,
                video_key=args.video_key,
                use_predictions=args.use_predictions,
            )
            if not args.width and args.videos_dir:
                r.videos = [
                    _with_probed_size(v, probe_video(args.videos_dir, v.video_id)) for v in r.videos
                ]
        else:
            fps = args.fps
            sizes = {}
            if args.videos_dir:
                try:
                    files = json.loads(data.decode("utf-8-sig")).get("file", {})
                except (ValueError, AttributeError):
                    files = {}
                for f in files.values() if isinstance(files, dict) else []:
                    if isinstance(f, dict):
                        vid = safe_video_id(str(f.get("fname", "")))
                        probed = probe_video(args.videos_dir, vid)
                        if probed:
                            sizes[vid] = (probed["width"], probed["height"])
                            fps = fps or probed["fps"]
            r = parse_via3(
                data,
                path,
                mapping=mapping,
                fps=fps,
                sizes=sizes,
                width=args.width,
                height=args.height,
            )
        total.extend(r)
    if not total.videos:
        raise ValueError("no video annotations found in the inputs")
    return total


def _with_probed_size(video, probed):
    if not probed:
        return video
    return replace(video, width=probed["width"], height=probed["height"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rate = parse_rate(args.keyframe_rate)
        result = import_all(args)
        classes = read_classes(args.classes) if args.classes else None
        tables = build_ava_tables(result.videos, rate, classes)
        splits = split_videos(
            [v.video_id for v in result.videos],
            val_ratio=args.val_ratio,
            seed=args.seed,
            val_videos=args.val_videos.split(",") if args.val_videos else None,
        )
        summary = write_ava_dataset(
            args.out,
            result.videos,
            tables,
            splits,
            rate=rate,
            frames_dir=args.frames_dir,
            videos_dir=args.videos_dir,
            force=args.force,
            info={"imported_from": [str(Path(p)) for p in args.inputs]},
        )
    except (InputFileError, ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = [
        [s, d["videos"], d["keyframes"], d["rows"], d["excluded"]]
        for s, d in summary["splits"].items()
    ]
    print(tabulate(rows, headers=["split", "videos", "keyframes", "rows", "excluded"]))
    print(f"classes (ids 1..{len(summary['classes'])}): {', '.join(summary['classes'])}")
    for what, n in sorted(summary["counts"].items()):
        print(f"{what}: {n}")
    for what, n in sorted(result.ignored.items()):
        print(f"left out: {n} {what}")
    if tables.left_out_actions:
        print(f"left out: actions not in --classes: {', '.join(sorted(tables.left_out_actions))}")
    if not args.frames_dir and not args.videos_dir:
        print(
            f"note: no --videos-dir or --frames-dir: put the videos in {args.out}/videos before training"
        )
    print(f"wrote {summary['root']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
