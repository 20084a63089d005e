"""AVA-format CSVs (ground truth, or detections with scores) -> :class:`~.tracks.VideoAnnotations`,
the way back to the annotation tools (:mod:`.export`).

Ground truth ``video_id,sec,x1,y1,x2,y2,action_id,person_id``: the rows of one (person, keyframe) make
one box with their actions. Detections ``video_id,sec,x1,y1,x2,y2,action_id,score``: the rows of one
box (same keyframe and coordinates) make one box with the actions whose score reaches the threshold
(per class, else the global one); boxes left without an action are dropped; persons are linked from
keyframe to keyframe greedily by IoU (>= ``link_iou``, best pair first). A person's keyframes one
keyframe interval apart form one span. The annotated range is dataset.json's
``annotated_frames`` of the video, else frame 0 to the last keyframe; excluded timestamps are the
skipped frames. Pure: text in, videos out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ava_detector.ava.annotations.ava_writer import frame_of
from ava_detector.ava.annotations.tracks import (
    FrameBox,
    VideoAnnotations,
    make_track,
)
from ava_detector.ava.data.records import pairwise_iou
from ava_detector.data.errors import InputFileError

__all__ = ["AVARow", "parse_ava_rows", "parse_exclusion_rows", "videos_from_ava"]

_Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AVARow:
    """One CSV row: ``box`` is ``None`` for a ``video_id,sec`` row; ``value`` is the person id (ground
    truth) or the score (detections)."""

    video_id: str
    sec: str
    box: tuple[float, float, float, float] | None
    action_id: int
    value: float
    line: int


def _num(text: str, path: str | Path, line: int, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputFileError(path, line, f"{what} {text!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise InputFileError(path, line, f"{what} {text!r} is not a finite number")
    return v


def parse_ava_rows(text: str, path: str | Path, *, detections: bool = False) -> list[AVARow]:
    """Parse ground-truth (8 or 7 columns, or 2) or detection (8 columns) CSV text.

    Args:
        text: the file's text.
        path: named in errors.
        detections: column 8 is a score (else a person id; 7-column rows get person id -1).
    """
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        f = [x.strip() for x in raw.split(",")]
        if len(f) == 2:
            _num(f[1], path, line, "timestamp")
            rows.append(AVARow(f[0], f[1], None, 0, -1, line))
            continue
        if len(f) not in (7, 8) or (detections and len(f) != 8):
            raise InputFileError(
                path,
                line,
                f"expected {'8' if detections else '2, 7 or 8'} "
                f"comma-separated columns, got {len(f)}",
            )
        _num(f[1], path, line, "timestamp")
        x1, y1, x2, y2 = (_num(v, path, line, "box coordinate") for v in f[2:6])
        box = (x1, y1, x2, y2)
        action = _num(f[6], path, line, "action_id")
        if action != int(action):
            raise InputFileError(path, line, f"action_id {f[6]!r} is not an integer")
        value = (
            _num(f[7], path, line, "score" if detections else "person_id") if len(f) == 8 else -1
        )
        if not detections and value != int(value):
            raise InputFileError(path, line, f"person_id {f[7]!r} is not an integer")
        rows.append(AVARow(f[0], f[1], box, int(action), value, line))
    return rows


def parse_exclusion_rows(text: str, path: str | Path) -> list[tuple[str, str]]:
    """``(video_id, sec)`` of an excluded-timestamps CSV.

    Args:
        text: the file's text.
        path: named in errors.
    """
    out = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            f = [x.strip() for x in raw.split(",")]
            if len(f) != 2:
                raise InputFileError(
                    path, line, f"expected 2 comma-separated columns, got {len(f)}"
                )
            _num(f[1], path, line, "timestamp")
            out.append((f[0], f[1]))
    return out


def _link(keyframes: list[list[tuple[_Box, set[str]]]], link_iou: float) -> list[list[int]]:
    """Person ids for detection boxes, keyframe by keyframe (greedy best-IoU matching)."""
    ids: list[list[int]] = []
    next_id = 0
    prev: list[tuple[_Box, int]] = []
    for boxes in keyframes:
        cur = [-1] * len(boxes)
        if prev and boxes:
            iou = pairwise_iou(np.array([b for b, _ in prev]), np.array([b[0] for b in boxes]))
            order = np.dstack(
                np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape)
            )[0]
            used_prev: set[int] = set()
            for i, j in order:
                if iou[i, j] < link_iou:
                    break
                if i in used_prev or cur[j] != -1:
                    continue
                used_prev.add(i)
                cur[j] = prev[i][1]
        for j in range(len(cur)):
            if cur[j] == -1:
                cur[j], next_id = next_id, next_id + 1
        ids.append(cur)
        prev = [(boxes[j][0], cur[j]) for j in range(len(boxes))]
    return ids


def videos_from_ava(
    rows: list[AVARow],
    names: dict[int, str],
    *,
    fps: float,
    rate: Fraction,
    exclusions: Sequence[tuple[str, str]] = (),
    video_info: dict[str, dict] | None = None,
    width: int = 0,
    height: int = 0,
    detections: bool = False,
    score_thresh: float = 0.5,
    class_thresh: dict[str, float] | None = None,
    link_iou: float = 0.5,
    path: str | Path = "<annotations>",
) -> list[VideoAnnotations]:
    """Group AVA rows into videos of person tracks (see the module docstring).

    Args:
        rows: from :func:`parse_ava_rows`.
        names: action id -> name (the label map).
        fps: frame rate of the videos.
        rate: keyframes per second (keyframes ``1 / rate`` apart are one span).
        exclusions: excluded ``(video_id, sec)``.
        video_info: dataset.json's ``videos`` entries (frames, width, height, annotated_frames).
        width, height: pixel size for videos without it in ``video_info``.
        detections: rows carry scores, not person ids.
        score_thresh: detections: the lowest score kept.
        class_thresh: detections: per action name, its own threshold.
        link_iou: detections: the IoU that links boxes of consecutive keyframes.
        path: the CSV, named in errors.
    """
    info = video_info or {}
    step = 1 / float(rate)
    per_video: dict[str, dict] = {}
    for r in rows:
        v = per_video.setdefault(r.video_id, {"secs": set(), "boxes": {}})
        v["secs"].add(r.sec)
        if r.box is None:
            continue
        if r.action_id not in names:
            raise InputFileError(path, r.line, f"action id {r.action_id} is not in the label map")
        name = names[r.action_id]
        if detections:
            thresh = (class_thresh or {}).get(name, score_thresh)
            if r.value < thresh:
                continue
            key: tuple[str, _Box] | tuple[str, int, _Box] = (r.sec, r.box)
        else:
            key = (r.sec, int(r.value), r.box)
        v["boxes"].setdefault(key, set()).add(name)
    for vid, sec in exclusions:
        per_video.setdefault(vid, {"secs": set(), "boxes": {}})["secs"].add(sec)
    excluded: dict[str, set[int]] = {}
    for vid, sec in exclusions:
        excluded.setdefault(vid, set()).add(frame_of(sec, fps))
    videos = []
    for vid in sorted(per_video):
        v = per_video[vid]
        meta = info.get(vid, {})
        if detections:
            by_sec: dict[str, list] = {}
            for (sec, box), actions in v["boxes"].items():
                by_sec.setdefault(sec, []).append((box, actions))
            secs = sorted(by_sec, key=float)
            ids = _link([by_sec[s] for s in secs], link_iou)
            persons: dict[int, list] = {}
            for sec, pids in zip(secs, ids):
                for (box, actions), pid in zip(by_sec[sec], pids):
                    persons.setdefault(pid, []).append((float(sec), box, actions))
        else:
            persons = {}
            for (sec, pid, box), actions in v["boxes"].items():
                persons.setdefault(pid, []).append((float(sec), box, actions))
        tracks = []
        for pid in sorted(persons):
            items = sorted(persons[pid], key=lambda t: t[0])
            spans, current, last = [], [], None
            for sec, box, actions in items:
                if last is not None and sec == last:
                    raise InputFileError(
                        path, None, f"video {vid!r}: person {pid} has two boxes at second {sec:g}"
                    )
                if last is not None and sec - last > step + 1e-6:
                    spans.append(current)
                    current = []
                current.append(FrameBox(frame_of(repr(sec), fps), box, frozenset(actions)))
                last = sec
            spans.append(current)
            tracks.append(make_track(pid, spans))
        frames = sorted(frame_of(s, fps) for s in v["secs"])
        annotated = meta.get("annotated_frames") or ([0, frames[-1]] if frames else None)
        videos.append(
            VideoAnnotations(
                video_id=vid,
                fps=float(fps),
                num_frames=int(meta.get("frames") or 0),
                width=int(meta.get("width") or width),
                height=int(meta.get("height") or height),
                tracks=tuple(tracks),
                skip_frames=frozenset(excluded.get(vid, ())),
                annotated=tuple(annotated) if annotated else None,
                source=str(path),
            )
        )
    return videos
