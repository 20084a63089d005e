#!/usr/bin/env python
"""Action detection on any video: an annotated video, an AVA-format detections CSV and a JSON per keyframe.

    python tools/demo.py --config CFG --weights CKPT --input video.mp4 --output out.mp4
        (--boxes boxes.csv | --detector-config D2_YAML_OR_ZOO_NAME --detector-weights PKL | --dataset NAME)
        [--every 1 | 2s | 15f] [--threshold 0.8] [--start-sec S] [--video-id ID] [--top-k 3]
        [--action-threshold 0.1 | --thresholds thresholds.json] [--label-map PBTXT] [--csv out.csv]
        [--json-dir DIR] [--snapshot frame.png] [--tracker bytetrack|ocsort|sort|none]
        [--tracks-dir DIR] [--smooth 3] [--official-csv] [opts ...]

Person boxes per keyframe come from an AVA-format CSV (proposals with scores, or ground truth), a
Detectron2 detector (person class only, score >= --threshold; weights are a local file), or the
ground-truth boxes of a registered dataset. CSV timestamps are ``start_sec`` + seconds into the video
(``--dataset`` takes ``start_sec`` from the dataset). Defaults: CSV ``<output>.csv``, JSONs in
``<output>_keyframes/``. Persons are tracked across keyframes (``--tracker``): each box's track id
is its colour and label, the CSV's 9th column (``person_id``; ``--official-csv`` leaves it out)
and the key of ``tracks.json`` / ``tracks.csv`` (per person: first/last second, per-keyframe box
and top actions, action segments).
Action scores are shown against per-action thresholds from ``--thresholds`` (or a
``thresholds.json`` next to the weights, from ``tools/calibrate_thresholds.py``), else
``--action-threshold``. Live input (``--input -``, a FIFO, an RTSP/HTTP URL, ``/dev/videoN`` or a
camera number) runs decode, detect, track and action stages in threads that drop the oldest
keyframe when the model falls behind; it writes the JSONs as results come and the CSV and tracks
in parts of ``--live-csv-keyframes`` keyframes. An unreadable input, missing weights or a bad CSV give a one-line error and
exit code 2; so do weights files that would run code when loaded (both are read with
``torch.load(weights_only=True)`` or a restricted unpickler) and configs that are not plain YAML.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import ava_detector.builtin_datasets  # noqa: F401  (registers the built-in datasets)
import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.data.errors import InputFileError
from ava_detector.demo.box_providers import (
    CSVBoxProvider,
    DatasetBoxProvider,
    check_timestamps_match,
)
from ava_detector.demo.live import is_live_input
from ava_detector.demo.person_detector import (
    PersonDetector,
    build_person_detector_cfg,
)
from ava_detector.demo.predictor import (
    ActionPredictor,
    build_cfg,
    load_detector,
)
from ava_detector.demo.schedule import (
    keyframe_times,
    parse_every,
)
from ava_detector.demo.thresholds import (
    THRESHOLDS_FILE,
    load_thresholds,
)
from ava_detector.demo.tracking import (
    TRACKER_METHODS,
    PersonTracker,
)
from ava_detector.demo.video_demo import (
    open_video,
    run_video_demo,
    stream_info,
)
from ava_detector.engine.cli import check_yaml_file


def argument_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config-file", "--config", dest="config_file", required=True, metavar="FILE")
    p.add_argument("--weights", required=True, help="checkpoint of the trained action detector")
    p.add_argument(
        "--input",
        required=True,
        help="input video (anything FFmpeg decodes), or live: '-' (standard input), a FIFO, "
        "an rtsp:// / http:// URL, /dev/videoN or a camera number",
    )
    p.add_argument(
        "--output",
        required=True,
        help="annotated video (.mp4); live input: the base name of the CSV and JSONs",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--boxes", help="AVA-format boxes CSV (proposals or ground truth)")
    src.add_argument("--detector-config", help="Detectron2 detector YAML or model-zoo name")
    src.add_argument("--dataset", help="registered dataset whose ground-truth boxes to use")
    p.add_argument("--detector-weights", help="weights of --detector-config (local file)")
    p.add_argument(
        "--every", default="1", help="keyframe spacing: seconds ('1', '0.5s') or frames ('15f')"
    )
    p.add_argument("--threshold", type=float, default=0.8, help="minimum person box score")
    p.add_argument("--start-sec", type=float, default=None, help="CSV timestamp of video time 0")
    p.add_argument(
        "--video-id", default=None, help="video id in the CSVs (default: input file name)"
    )
    p.add_argument("--top-k", type=int, default=3, help="actions drawn per person")
    p.add_argument("--action-threshold", type=float, default=0.1, help="minimum drawn action score")
    p.add_argument("--label-map", default=None, help="label map pbtxt for action names")
    p.add_argument("--csv", default=None, help="detections CSV (default <output>.csv)")
    p.add_argument(
        "--json-dir", default=None, help="per-keyframe JSONs (default <output>_keyframes)"
    )
    p.add_argument(
        "--snapshot",
        default=None,
        help="PNG of the annotated frame of the first keyframe with persons",
    )
    p.add_argument(
        "--thresholds",
        default=None,
        metavar="JSON",
        help=f"per-action score thresholds (default: {THRESHOLDS_FILE} next to --weights "
        "when there is one, else --action-threshold for all)",
    )
    p.add_argument(
        "--tracker",
        default="bytetrack",
        choices=[*TRACKER_METHODS, "none"],
        help="person tracking across keyframes",
    )
    p.add_argument(
        "--track-lost-seconds",
        type=float,
        default=3.0,
        help="a person unseen this long gets a new track id when seen again",
    )
    p.add_argument(
        "--tracks-dir", default=None, help="tracks.json / tracks.csv (default: the output's folder)"
    )
    p.add_argument(
        "--smooth",
        type=int,
        default=1,
        help="moving average over N keyframes of a track's scores for its action segments",
    )
    p.add_argument(
        "--official-csv",
        action="store_true",
        help="the CSV without the person_id column (the 8 columns the evaluator reads)",
    )
    p.add_argument(
        "--live-csv-keyframes",
        type=int,
        default=60,
        help="live input: detections CSV written in parts of this many keyframes",
    )
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return p


def action_names(cfg, dataset: str | None, label_map: str | None) -> dict[int, str]:
    """Action names: --label-map, else the label map of --dataset / the config's test set, else ids."""
    if label_map:
        from ava_detector.ava.data.label_map import read_label_map

        return dict(read_label_map(label_map).names)
    from detectron2.data import MetadataCatalog

    from ava_detector.ava.data.register import ava_metadata

    for name in [dataset, *cfg.DATASETS.TEST]:
        if name and name in MetadataCatalog.list():
            try:  # reads the label map without loading the dataset
                names = ava_metadata(name).get("action_names", None)
            except (InputFileError, OSError) as err:
                logging.getLogger("demo").warning(f"no action names from {name}: {err}")
                continue
            if names:
                return {int(k): str(v) for k, v in names.items()}
    return {}


def build_provider(args, cfg, video_id: str):
    """(box provider, start_sec) for the chosen box source."""
    if args.boxes:
        return CSVBoxProvider(args.boxes, video_id, args.threshold), args.start_sec or 0.0
    if args.dataset:
        from detectron2.data import DatasetCatalog

        if args.dataset not in DatasetCatalog.list():
            raise KeyError(
                f"no dataset named {args.dataset!r} (registered: "
                f"{', '.join(sorted(DatasetCatalog.list())[:20])})"
            )
        provider = DatasetBoxProvider(DatasetCatalog.get(args.dataset), video_id, args.dataset)
        others = [p for p in provider.video_paths if not _same_file(p, args.input)]
        if provider.video_paths and len(others) == len(provider.video_paths):
            raise ValueError(
                f"dataset {args.dataset!r} has video {provider.video_id!r} at "
                f"{others[0]}, not the input {args.input} (set AVA.ROOT / "
                f"AVA.SYNTHETIC_ROOT, or pass --boxes)"
            )
        start = provider.start_sec if args.start_sec is None else args.start_sec
        return provider, start
    if not args.detector_weights:
        raise FileNotFoundError("--detector-config needs --detector-weights (a local weights file)")
    det_cfg = build_person_detector_cfg(
        args.detector_config, args.detector_weights, args.threshold, cfg.MODEL.DEVICE
    )
    return PersonDetector(det_cfg), args.start_sec or 0.0


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).samefile(b)
    except OSError:
        return False


def action_thresholds(args, num_classes: int):
    """Per-action thresholds (array) from --thresholds / thresholds.json next to the weights, else
    the global --action-threshold."""
    path = args.thresholds
    if path is None and (Path(args.weights).parent / THRESHOLDS_FILE).is_file():
        path = Path(args.weights).parent / THRESHOLDS_FILE
        print(f"note: per-action thresholds from {path}", file=sys.stderr)
    if path is None:
        return args.action_threshold
    return load_thresholds(path, num_classes, default=args.action_threshold)


def run_live_mode(args, cfg, predictor, provider, start_sec: float, tracker) -> int:
    """Live input: keyframe JSONs and CSV parts as results come; counts and latency logged."""
    from ava_detector.demo.drawing import top_actions
    from ava_detector.demo.live import run_live_input
    from ava_detector.demo.outputs import (
        write_detections_csv,
        write_keyframe_json,
    )
    from ava_detector.demo.tracks_output import (
        build_tracks,
        tracks_payload,
        write_tracks_csv,
        write_tracks_json,
    )

    out = Path(args.output)
    json_dir = Path(args.json_dir or out.with_name(out.stem + "_keyframes"))
    csv_base = Path(args.csv or out.with_suffix(".csv"))
    names = action_names(cfg, args.dataset, args.label_map)
    thresholds = action_thresholds(args, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
    part: list = []
    parts = [0]

    tracks_dir = Path(args.tracks_dir or out.parent)

    def flush() -> None:
        if part:
            parts[0] += 1
            write_detections_csv(
                csv_base.with_name(f"{csv_base.stem}_{parts[0]:05d}{csv_base.suffix}"),
                part,
                person_id=not args.official_csv,
            )
            if tracker is not None:  # the part's stretch of each track (ids go on across parts)
                payload = tracks_payload(
                    build_tracks(part), names, thresholds, args.top_k, args.smooth
                )
                write_tracks_json(tracks_dir / f"tracks_{parts[0]:05d}.json", payload)
                write_tracks_csv(tracks_dir / f"tracks_{parts[0]:05d}.csv", payload)
            part.clear()

    def on_result(result) -> None:
        acts = [top_actions(s, names, args.top_k, thresholds) for s in result.action_scores]
        write_keyframe_json(json_dir, result, result.to_json(acts))
        part.append(result)
        if len(part) >= args.live_csv_keyframes:
            flush()

    logging.getLogger("ava_detector.demo.live").setLevel(logging.INFO)
    video_id = getattr(provider, "video_id", None) or args.video_id or "live"
    stats = run_live_input(
        args.input,
        predictor,
        provider,
        on_result,
        every=args.every,
        start_sec=start_sec,
        video_id=video_id,
        tracker=tracker,
        report_every=0 if args.no_progress else 5.0,
    )
    flush()
    if args.no_progress:  # otherwise the last progress line said it
        print(stats.line())
    print(
        f"keyframe JSONs: {json_dir}  detections: {parts[0]} CSV parts {csv_base.stem}_NNNNN{csv_base.suffix}"
        + (f"  tracks: {tracks_dir}/tracks_NNNNN.json" if tracker is not None else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.output)
    live = is_live_input(args.input)
    try:
        if live:
            rate, duration = 30.0, float("inf")  # the stream's own rate is read when it opens
        else:
            container, stream = open_video(
                args.input
            )  # fail on a bad input before loading anything
            with container:
                rate, duration, _ = stream_info(container, stream)
        if Path(args.config_file).is_file():
            check_yaml_file(args.config_file)  # no yaml.unsafe_load fallback
        cfg = build_cfg(args.config_file, args.opts, dataset=args.dataset)
        from ava_detector.ava.data.builtin import register_ava_from_cfg

        register_ava_from_cfg(cfg)  # the datasets under the config's AVA.ROOT / AVA.SYNTHETIC_ROOT
        predictor = ActionPredictor(cfg, load_detector(cfg, args.weights))
        video_id = args.video_id or Path(args.input).stem
        provider, start_sec = build_provider(args, cfg, video_id)
        if hasattr(provider, "seconds") and not live:
            stamps = [
                start_sec + t for t in keyframe_times(parse_every(args.every, rate), duration)
            ]
            check_timestamps_match(
                provider.seconds,
                stamps,
                getattr(provider, "path", None) or f"dataset {args.dataset}",
            )
        tracker = None
        if args.tracker != "none":
            tracker = PersonTracker(
                args.tracker,
                rate=1.0 / parse_every(args.every, rate),
                lost_seconds=args.track_lost_seconds,
            )
        if live:
            return run_live_mode(args, cfg, predictor, provider, start_sec, tracker)
        summary = run_video_demo(
            args.input,
            out,
            predictor,
            provider,
            action_names=action_names(cfg, args.dataset, args.label_map),
            every=args.every,
            start_sec=start_sec,
            video_id=getattr(provider, "video_id", video_id),
            top_k=args.top_k,
            action_threshold=action_thresholds(args, cfg.MODEL.ROI_HEADS.NUM_CLASSES),
            csv_path=args.csv or out.with_suffix(".csv"),
            json_dir=args.json_dir or out.with_name(out.stem + "_keyframes"),
            snapshot=args.snapshot,
            progress=not args.no_progress,
            tracker=tracker,
            tracks_dir=args.tracks_dir or out.parent,
            smooth=args.smooth,
            csv_person_id=not args.official_csv,
        )
    except (InputFileError, FileNotFoundError, KeyError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    persons = sum(len(k.boxes) for k in summary.keyframes)
    print(
        f"{summary.output}: {summary.frames} frames, {len(summary.keyframes)} keyframes, "
        f"{persons} person boxes, {summary.seconds:.1f} s "
        f"(at most {summary.peak_buffered_frames} frames buffered)"
    )
    print(f"detections: {summary.csv}  keyframe JSONs: {summary.json_dir}")
    if summary.tracks_json is not None:
        print(f"tracks: {summary.tracks_json}  {summary.tracks_csv}")
    if args.snapshot and not Path(args.snapshot).is_file():
        print(f"note: no keyframe had persons, so no snapshot {args.snapshot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
