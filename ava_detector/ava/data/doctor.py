"""The data doctor: checks an AVA-format dataset before training and reports proposal quality.

Each check returns a :class:`Check` (name, status "ok"/"warn"/"FAIL", detail, offending files), so a
user sees every problem at once instead of a crash mid-epoch. ``data_prep/check_ava.py`` prints them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import av
import numpy as np
import pandas as pd
from tqdm import tqdm

from ava_detector.ava.data.csv_formats import (
    ParsedTable,
    read_annotations,
    read_exclusions,
    read_proposals,
)
from ava_detector.ava.data.frame_lists import read_frame_list
from ava_detector.ava.data.label_map import read_label_map
from ava_detector.ava.data.records import pairwise_iou
from ava_detector.ava.data.register import (
    AVAFiles,
    find_videos,
    read_dataset_json,
)
from ava_detector.ava.data.timestamps import format_second
from ava_detector.data.errors import InputFileError
from ava_detector.data.paths import resolve_under_root
from ava_detector.data.video.jpeg_source import (
    jpeg_is_truncated,
    read_rgb,
)

__all__ = ["Check", "proposal_quality", "run_checks"]

_MAX_LISTED = 20
# What a reader raises on a bad file; reported as a failed check, never a traceback.
# The frame check reads this many bytes at the end of a frame file (its JPEG end marker).
_TAIL_BYTES = 4096
# Threads of the frame and video checks.
_THREADS = min(8, 2 * (os.cpu_count() or 1))
_T = TypeVar("_T")
_R = TypeVar("_R")

_READ_ERRORS = (InputFileError, OSError, ValueError, KeyError, UnicodeDecodeError)


@dataclass
class Check:
    """One check's outcome; ``files`` names what to fix (at most a few listed, the count in detail)."""

    name: str
    status: str = "ok"
    detail: str = ""
    files: list[str] = field(default_factory=list)

    def fail(self, detail: str, files: Iterable[str] = (), status: str = "FAIL") -> Check:
        files = list(files)
        self.status, self.detail, self.files = status, detail, files[:_MAX_LISTED]
        return self


def proposal_quality(
    gt: pd.DataFrame, proposals: pd.DataFrame, score_thresh: float = 0.8
) -> tuple[float, float]:
    """(recall of GT person boxes at IoU 0.5 by proposals with score >= ``score_thresh``, AP@0.5 of
    all proposals through pycocotools' COCOeval). Both tables: ``video_id, sec, x1..y2`` (+ score)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cols = ["x1", "y1", "x2", "y2"]
    gt = gt[gt["action_id"] > 0].drop_duplicates(["video_id", "sec", *cols])
    keys = {k: i + 1 for i, k in enumerate(sorted(set(zip(gt["video_id"], gt["sec"]))))}
    on_gt = np.array([k in keys for k in zip(proposals["video_id"], proposals["sec"])], dtype=bool)
    proposals = proposals[on_gt]
    if not keys:
        return float("nan"), float("nan")
    hits = 0
    for key, g in gt.groupby(["video_id", "sec"]):
        p = proposals[(proposals["video_id"] == key[0]) & (proposals["sec"] == key[1])]
        p = p[p["score"] >= score_thresh]
        if len(p):
            hits += int((pairwise_iou(g[cols].to_numpy(), p[cols].to_numpy()).max(1) >= 0.5).sum())
    recall = hits / len(gt)

    def xywh(
        t: pd.DataFrame,
    ) -> np.ndarray:  # COCO boxes in a 1000x1000 frame (areas in COCO's pixel units)
        b = t[cols].to_numpy(np.float64) * 1000
        return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)

    coco_gt = COCO()
    coco_gt.dataset = {
        "images": [{"id": i, "width": 1000, "height": 1000} for i in keys.values()],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {
                "id": j + 1,
                "image_id": keys[(v, s)],
                "category_id": 1,
                "bbox": list(b),
                "area": float(b[2] * b[3]),
                "iscrowd": 0,
            }
            for j, (v, s, b) in enumerate(zip(gt["video_id"], gt["sec"], xywh(gt)))
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        if len(proposals) == 0:
            return recall, 0.0
        dets = [
            {"image_id": keys[(v, s)], "category_id": 1, "bbox": list(b), "score": float(sc)}
            for v, s, b, sc in zip(
                proposals["video_id"], proposals["sec"], xywh(proposals), proposals["score"]
            )
        ]
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return recall, float(ev.stats[1])


def _csv_check(
    name: str, reader: Callable[..., ParsedTable], path: str, **kw: Any
) -> tuple[Check, pd.DataFrame | None]:
    check = Check(name)
    if not path or not Path(path).is_file():
        what = "a directory" if path and Path(path).is_dir() else "missing"
        return check.fail(f"{what} {path}", [path]), None
    try:
        parsed = reader(path, lenient=True, **kw)
    except _READ_ERRORS as e:  # not a row problem (bytes, permissions): report, keep checking
        return check.fail(str(e), [path]), None
    if parsed.skipped:
        lines = [f"{path}:{line}: {problem}" for line, problem in parsed.skipped]
        return check.fail(f"{len(lines)} malformed rows", lines), parsed.table
    check.detail = f"{len(parsed.table)} rows"
    return check, parsed.table


def _frame_problem(path: Path, decode: bool) -> str | None:
    """What is wrong with one frame file: missing, empty, a truncated JPEG (its last bytes, cheap), or
    with ``decode`` not decodable; None when fine."""
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    if size == 0:
        return "empty file"
    if decode:
        try:
            read_rgb(str(path))
        except InputFileError as e:
            return e.problem
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if size > _TAIL_BYTES:
                f.seek(-_TAIL_BYTES, os.SEEK_END)
            tail = f.read()
    except OSError as e:
        return f"unreadable ({e.strerror})"
    # head + tail: the whole file when it is small, else its first 2 and last _TAIL_BYTES bytes
    truncated = jpeg_is_truncated(head + tail)
    return "truncated JPEG (no end-of-image marker FF D9 at the end)" if truncated else None


def _parallel(fn: Callable[[_T], _R], items: list[_T], desc: str) -> list[_R]:
    """``fn`` over ``items`` in threads (file reads and decoders release the GIL), in order, with a
    progress bar."""
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, leave=False))


def _check_frames(
    frames: dict,
    needed: dict,
    frames_dir: str,
    fps: float,
    decode_all: bool,
    frame_list: str = "<frame list>",
    allow_outside: bool = False,
) -> Check:
    """Every frame a keyframe's clip needs exists, is not empty and, for JPEGs, ends with its end
    marker (a few bytes each); keyframes (every frame with ``decode_all``) decode. Frame paths leaving
    ``frames_dir`` are problems too (not read) unless ``allow_outside``. Videos in parallel."""
    check = Check("frames exist and decode")

    def one_video(item: tuple[str, list[int]]) -> tuple[list[str], list[str], list[str], list[str]]:
        vid, secs_idx = item
        missing: list[str] = []
        bad: list[str] = []
        short: list[str] = []
        outside: list[str] = []
        rel = frames.get(vid)
        if rel is None:
            return [f"{vid}: not in the frame list"], [], [], []
        if secs_idx and max(secs_idx) >= len(rel):
            short.append(
                f"{vid}: {len(rel)} frames at {fps:g} fps, keyframe needs frame {max(secs_idx)}"
            )
        keyframes = set(secs_idx)
        for i, p in enumerate(rel):
            try:
                path = Path(
                    resolve_under_root(
                        str(p),
                        frames_dir,
                        source=frame_list,
                        allow_outside=allow_outside,
                        opt_in_key="AVA.ALLOW_PATHS_OUTSIDE_ROOT (--allow-paths-outside-root)",
                    )
                )
            except InputFileError as e:
                outside.append(f"{vid}: {e.problem}")
                continue
            problem = _frame_problem(path, decode_all or i in keyframes)
            if problem == "missing":
                missing.append(str(path))
            elif problem is not None:
                bad.append(f"{path}: {problem}")
        return missing, bad, short, outside

    results = _parallel(one_video, sorted(needed.items()), "frames")
    missing, bad, short, outside = ([x for r in results for x in r[k]] for k in range(4))
    problems = outside + missing + bad + short
    if problems:
        counts = (
            f"{len(missing)} missing, {len(bad)} unreadable or truncated, {len(short)} too short"
        )
        if outside:
            counts += f", {len(outside)} outside the frames folder"
        return check.fail(counts, problems)
    check.detail = f"{len(needed)} videos, {sum(len(frames.get(v) or ()) for v in needed)} frames"
    return check


def _decode_across(path: str, decode_all: bool) -> tuple[float, float, list[str], float | None]:
    """(frame rate, duration, problems, median seconds between key frames or None) of a video read
    from start to end: every packet demuxed and every key frame decoded (every frame with
    ``decode_all``), so damage anywhere in the file that hits a key frame or the container is found
    without decoding the whole video."""
    with av.open(path) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or 0)
        duration = (
            float(s.duration * s.time_base)
            if s.duration and s.time_base is not None
            else (c.duration or 0) / av.time_base
        )
        if not decode_all:
            s.codec_context.skip_frame = "NONKEY"
        decoded, last = 0, 0.0
        keys: list[float] = []
        try:
            for frame in c.decode(s):
                decoded += 1
                last = float(frame.time or 0.0)
                if frame.key_frame:
                    keys.append(last)
        except av.FFmpegError as e:
            return rate, duration, [f"{path}: cannot decode after {last:.1f} s ({e})"], None
        if decoded == 0:
            return rate, duration, [f"{path}: no frame decodes"], None
        gaps = np.diff(np.unique(keys))
        return rate, duration, [], float(np.median(gaps)) if len(gaps) else None


def _check_videos(
    videos: dict, needed: dict, fps: float, last_index: dict, decode_all: bool = False
) -> list[Check]:
    """Each needed video opens, has the expected frame rate, lasts long enough and decodes across its
    length (its key frames; every frame with ``decode_all``); then how far apart their key frames
    are (:func:`_check_seeking`). Videos in parallel."""
    check = Check("videos open, fps and duration fit")
    intervals: dict[str, float] = {}

    def one_video(vid: str) -> list[str]:
        path = videos.get(vid)
        if path is None:
            return [f"{vid}: no video file"]
        try:
            rate, duration, problems, interval = _decode_across(path, decode_all)
        except (av.FFmpegError, IndexError, OSError) as e:
            return [f"{path}: cannot decode ({e})"]
        if interval is not None:
            intervals[path] = interval
        if abs(rate - fps) > 0.01 * fps:
            problems.append(f"{path}: {rate:g} fps, the dataset's timeline is {fps:g} fps")
        if duration * fps < last_index[vid] + 1:
            problems.append(f"{path}: {duration:.2f} s, a keyframe needs frame {last_index[vid]}")
        return problems

    problems = [p for r in _parallel(one_video, sorted(needed), "videos") for p in r]
    if problems:
        check.fail(f"{len(problems)} problems", problems)
    else:
        check.detail = f"{len(needed)} videos"
    return [check, _check_seeking(intervals)]


#: Key frames further apart than this (seconds) make shuffled ``INPUT.SOURCE video`` training clips
#: decode a long run of frames before each clip (the training encoding has one a second).
SEEK_WARN_INTERVAL_S = 1.5


def _check_seeking(intervals: dict[str, float]) -> Check:
    """A warning when the videos' key frames are far apart (median interval over
    :data:`SEEK_WARN_INTERVAL_S`): a shuffled ``INPUT.SOURCE video`` training clip decodes from the
    key frame before it; ``data_prep/transcode_videos.py`` re-encodes them."""
    check = Check("video key frames (INPUT.SOURCE video training)")
    if not intervals:
        check.detail = "fewer than 2 key frames a video"
        return check
    median = float(np.median(list(intervals.values())))
    sparse = sorted(p for p, v in intervals.items() if v > SEEK_WARN_INTERVAL_S)
    check.detail = f"every {median:.2f} s (median of {len(intervals)} videos)"
    if sparse:
        check.fail(
            f"{len(sparse)} of {len(intervals)} videos have key frames over "
            f"{SEEK_WARN_INTERVAL_S:g} s apart (median {median:.2f} s): a shuffled clip decodes "
            "from the key frame before it; data_prep/transcode_videos.py (or prepare_ava.py cut) "
            "writes the training encoding, ~4x cheaper clips",
            [f"{p}: key frames every {intervals[p]:.2f} s" for p in sparse],
            status="warn",
        )
    return check


def run_checks(
    files: AVAFiles,
    *,
    start_sec: float | None = None,
    fps: float | None = None,
    score_thresh: float = 0.8,
    decode_all: bool = False,
    allow_paths_outside_root: bool = False,
) -> tuple[list[Check], dict]:
    """All checks of one split and the proposal-quality figures (``recall``, ``ap50``).

    A file that cannot be read (dataset.json, frame list, CSVs, label map) is a failed check with
    the reader's message, and the other checks still run.

    Args:
        files: the split's files (e.g. :func:`ava_layout`).
        start_sec: movie second of frame 0 (None: dataset.json's, else 900).
        fps: frame rate of the timeline (None: dataset.json's, else 30).
        score_thresh: proposals at or above this count for recall.
        decode_all: decode every frame, not only keyframes.
        allow_paths_outside_root: frame-list paths may leave the frames folder.
    """
    checks: list[Check] = []
    info: dict = {}
    if files.dataset_json and Path(files.dataset_json).exists():
        described = Check("dataset.json")
        try:
            info = read_dataset_json(files.dataset_json)
            described.detail = f"start_sec {info['start_sec']:g}, {info['fps']:g} fps"
        except _READ_ERRORS as e:
            described.fail(f"{e}; using start_sec 900, 30 fps", [files.dataset_json])
        checks.append(described)
    start_sec = info.get("start_sec", 900) if start_sec is None else start_sec
    fps = info.get("fps", 30) if fps is None else fps
    rate = float(info.get("keyframe_rate", 1))
    lm = Check("label map")
    try:
        lm.detail = f"{len(read_label_map(files.label_map).ids)} evaluated classes"
    except _READ_ERRORS as e:  # InputFileError or unreadable: report, keep checking
        lm.fail(str(e), [files.label_map])
    checks.append(lm)
    gt_check, gt = _csv_check(
        "ground truth CSV", partial(read_annotations, keyframe_rate=rate), files.annotations
    )
    checks.append(gt_check)
    candidates = [p for p in files.proposals if p]
    proposals_path = next(
        (p for p in candidates if Path(p).is_file()), candidates[0] if candidates else ""
    )
    prop_check, proposals = _csv_check(
        "proposals CSV", partial(read_proposals, keyframe_rate=rate), proposals_path
    )
    if prop_check.status != "ok" and not any(Path(p).exists() for p in candidates):
        # Optional: training uses the ground-truth boxes, evaluation --gt-boxes; say how to get them.
        prop_check.status = "warn"
        prop_check.detail += (
            " (training uses ground-truth boxes only; evaluate with --gt-boxes, or "
            "write proposals with data_prep/make_proposals.py)"
        )
    checks.append(prop_check)
    exc_check, _ = _csv_check(
        "excluded timestamps CSV", partial(read_exclusions, keyframe_rate=rate), files.exclusions
    )
    if exc_check.status != "ok" and not Path(files.exclusions).exists():
        exc_check.status = "warn"
    checks.append(exc_check)
    figures: dict = {}
    if gt is None:
        return checks, figures
    index = np.round((gt["sec"].to_numpy() - start_sec) * fps).astype(int)
    needed: dict[str, list[int]] = {}
    for vid, i in zip(gt["video_id"], index):
        needed.setdefault(vid, []).append(int(i))
    needed = {v: sorted(set(i)) for v, i in needed.items()}
    neg = [
        f"{files.annotations}: {v} second {start_sec + i / fps:g} is before start_sec {start_sec:g}"
        for v, idx in needed.items()
        for i in idx
        if i < 0
    ]
    timeline = Check("keyframes on the timeline", detail=f"start_sec {start_sec:g}, {fps:g} fps")
    checks.append(timeline.fail(f"{len(neg)} keyframes before the video", neg) if neg else timeline)
    # Keyframes before the video are reported above; the frame and video checks take the others.
    on_timeline = {v: [i for i in idx if i >= 0] for v, idx in needed.items()}
    on_timeline = {v: idx for v, idx in on_timeline.items() if idx}
    has_frames = bool(files.frame_list) and Path(files.frame_list).is_file()
    videos = find_videos(files.videos_dir)
    if has_frames:
        try:
            frames = read_frame_list(files.frame_list)
        except _READ_ERRORS as e:
            checks.append(
                Check("frames exist and decode").fail(
                    f"frame list unreadable: {e}", [files.frame_list]
                )
            )
        else:
            checks.append(
                _check_frames(
                    frames,
                    on_timeline,
                    files.frames_dir,
                    fps,
                    decode_all,
                    files.frame_list,
                    allow_paths_outside_root,
                )
            )
    elif files.frame_list and Path(files.frame_list).is_dir():
        checks.append(
            Check("frames exist and decode").fail(
                f"{files.frame_list} is a directory, expected a frame list", [files.frame_list]
            )
        )
    if videos:
        last = {v: max(i) for v, i in on_timeline.items()}
        checks.extend(_check_videos(videos, on_timeline, fps, last, decode_all))
    if not has_frames and not videos:
        checks.append(
            Check("frames or videos").fail(
                "neither a frame list nor videos", [files.frame_list, files.videos_dir]
            )
        )
    if proposals is not None:
        gt_keys = set(zip(gt["video_id"], gt["sec"]))
        covered = gt_keys & set(zip(proposals["video_id"], proposals["sec"]))
        cover = Check("proposals cover the GT keyframes", detail=f"{len(covered)}/{len(gt_keys)}")
        if len(covered) < len(gt_keys):
            uncovered = [
                f"{files.annotations}: {v},{format_second(s)} has no proposal"
                for v, s in sorted(gt_keys - covered)
            ]
            status = "FAIL" if len(covered) < 0.95 * len(gt_keys) else "warn"
            cover.fail(f"{len(covered)}/{len(gt_keys)} keyframes", uncovered, status)
        checks.append(cover)
        recall, ap50 = proposal_quality(gt, proposals, score_thresh)
        figures = {"recall": recall, "ap50": ap50, "score_thresh": score_thresh}
    return checks, figures
