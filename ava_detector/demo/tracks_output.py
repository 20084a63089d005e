"""Per-person timelines from tracked keyframes: ``tracks.json`` and ``tracks.csv``.

A track is the keyframes of one track id in time order: per keyframe its box, person score and top
actions, and per action the segments (runs of keyframes) where its score, optionally smoothed over
``smooth`` keyframes of the track (a centred moving average), is at least that action's threshold.
A segment runs from its first to its last keyframe's timestamp. Both files are written atomically.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ava_detector.demo.drawing import top_actions
from ava_detector.demo.outputs import (
    KeyframeResult,
    format_timestamp,
)
from ava_detector.utils.atomic_files import atomic_output

#: a JSON list of numbers spread over lines by ``indent`` (boxes): written on one line
_NUMBER_LIST = re.compile(r"\[\s*((?:-?[0-9.eE+-]+,\s*)*-?[0-9.eE+-]+)\s*\]")

__all__ = ["Track", "action_segments", "build_tracks", "write_tracks_csv", "write_tracks_json"]


@dataclass
class Track:
    """One person's keyframes: times (movie seconds), boxes, person scores and action scores."""

    track_id: int
    video_id: str
    timestamps: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    person_scores: list[float] = field(default_factory=list)
    action_scores: list[np.ndarray] = field(default_factory=list)

    @property
    def first(self) -> float:
        return self.timestamps[0]

    @property
    def last(self) -> float:
        return self.timestamps[-1]


def build_tracks(results: Sequence[KeyframeResult]) -> list[Track]:
    """Tracks (by id, in order of first appearance) from keyframe results with ``track_ids``.

    Args:
        results: keyframe results in time order; those without track ids are skipped.
    """
    tracks: dict[tuple[str, int], Track] = {}
    for r in results:
        if r.track_ids is None:
            continue
        for k, tid in enumerate(np.asarray(r.track_ids).tolist()):
            track = tracks.setdefault((r.video_id, tid), Track(int(tid), r.video_id))
            track.timestamps.append(float(r.timestamp))
            track.boxes.append(np.asarray(r.boxes[k], np.float64))
            track.person_scores.append(float(r.person_scores[k]))
            if len(r.action_scores) > k:
                track.action_scores.append(np.asarray(r.action_scores[k], np.float64))
    return list(tracks.values())


def smooth_scores(scores: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` keyframes (shorter at the ends); ``window`` <= 1: as is.

    Args:
        scores: ``(T, C)`` scores of one track's keyframes.
        window: keyframes averaged (odd or even; the centre is the keyframe itself).
    """
    scores = np.asarray(scores, np.float64)
    if window <= 1 or len(scores) == 0:
        return scores
    half_lo, half_hi = (window - 1) // 2, window // 2
    cum = np.vstack([np.zeros((1, scores.shape[1])), np.cumsum(scores, axis=0)])
    idx = np.arange(len(scores))
    lo, hi = np.maximum(0, idx - half_lo), np.minimum(len(scores), idx + half_hi + 1)
    return (cum[hi] - cum[lo]) / (hi - lo)[:, None]


def action_segments(
    timestamps: Sequence[float],
    scores: np.ndarray,
    thresholds: np.ndarray,
    names: Mapping[int, str],
    smooth: int = 1,
) -> list[dict]:
    """Segments ``{"id", "name", "start", "end", "keyframes", "mean_score", "max_score"}`` of one
    track, ordered by start then action id.

    Args:
        timestamps: the track's keyframe timestamps (movie seconds).
        scores: ``(T, C)`` action probabilities per keyframe (ids 1..C).
        thresholds: ``(C,)`` per-action minimum (smoothed) score.
        names: action names; with names, only the named actions make segments.
        smooth: moving-average window in keyframes (1 = none).
    """
    scores = smooth_scores(scores, smooth)
    if scores.size == 0:
        return []
    on = scores >= np.asarray(thresholds, np.float64)[None, :]
    segments = []
    for c in range(scores.shape[1]):
        if names and (c + 1) not in names:
            continue
        edges = np.flatnonzero(np.diff(np.r_[0, on[:, c].astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):  # keyframes a .. b-1
            run = scores[a:b, c]
            segments.append(
                {
                    "id": c + 1,
                    "name": names.get(c + 1, f"action {c + 1}"),
                    "start": float(timestamps[a]),
                    "end": float(timestamps[b - 1]),
                    "keyframes": int(b - a),
                    "mean_score": float(run.mean()),
                    "max_score": float(run.max()),
                }
            )
    return sorted(segments, key=lambda s: (s["start"], s["id"]))


def _thresholds(thresholds: np.ndarray | float, classes: int) -> np.ndarray:
    out = np.broadcast_to(np.asarray(thresholds, np.float64), (classes,))
    return np.array(out)


def tracks_payload(
    tracks: Sequence[Track],
    names: Mapping[int, str],
    thresholds: np.ndarray | float,
    top_k: int = 3,
    smooth: int = 1,
) -> list[dict]:
    """The JSON-ready form of ``tracks``.

    Args:
        tracks: from :func:`build_tracks`.
        names: action names (only named actions are listed when given).
        thresholds: a per-action ``(C,)`` array or one value for all.
        top_k: actions listed per keyframe.
        smooth: the segments' moving-average window in keyframes.
    """
    out = []
    for t in tracks:
        scores = np.stack(t.action_scores) if t.action_scores else np.zeros((0, 80))
        thr = _thresholds(thresholds, scores.shape[1] if scores.ndim == 2 else 80)
        keyframes = []
        for i, ts in enumerate(t.timestamps):
            acts = top_actions(scores[i], names, top_k, thr) if i < len(scores) and top_k else []
            keyframes.append(
                {
                    "timestamp": format_timestamp(ts),
                    "box": [round(float(v), 6) for v in t.boxes[i]],
                    "score": round(t.person_scores[i], 6),
                    "actions": [{"id": a, "name": n, "score": round(p, 6)} for a, n, p in acts],
                }
            )
        segs = action_segments(t.timestamps[: len(scores)], scores, thr, names, smooth)
        for s in segs:
            s["start"], s["end"] = format_timestamp(s["start"]), format_timestamp(s["end"])
            s["mean_score"], s["max_score"] = round(s["mean_score"], 6), round(s["max_score"], 6)
        out.append(
            {
                "track_id": t.track_id,
                "video_id": t.video_id,
                "first": format_timestamp(t.first),
                "last": format_timestamp(t.last),
                "keyframes": keyframes,
                "segments": segs,
            }
        )
    return out


def write_tracks_json(path: str | Path, payload: list[dict]) -> Path:
    """``{"tracks": payload}`` as JSON, atomically.

    Args:
        path: the output file.
        payload: from :func:`tracks_payload`.
    """
    text = json.dumps({"tracks": payload}, indent=1)
    text = _NUMBER_LIST.sub(lambda m: "[" + re.sub(r",\s*", ", ", m.group(1)) + "]", text)
    with atomic_output(path) as tmp:
        tmp.write_text(text + "\n")
    return Path(path)


def write_tracks_csv(path: str | Path, payload: list[dict]) -> Path:
    """Header ``track_id, video_id, first, last, kind, timestamp, x1, y1, x2, y2, score, actions``;
    per track one ``keyframe`` row per keyframe (box, person score, top actions as ``name:score``
    joined by ``;``), then one ``segment`` row per action segment (timestamp ``start-end``, no box,
    the segment's mean score, the action's name).

    Args:
        path: the output file.
        payload: from :func:`tracks_payload`.
    """
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "track_id",
                "video_id",
                "first",
                "last",
                "kind",
                "timestamp",
                "x1",
                "y1",
                "x2",
                "y2",
                "score",
                "actions",
            ]
        )
        for t in payload:
            head = [t["track_id"], t["video_id"], t["first"], t["last"]]
            for k in t["keyframes"]:
                out.writerow(
                    head
                    + [
                        "keyframe",
                        k["timestamp"],
                        *k["box"],
                        k["score"],
                        ";".join(f"{a['name']}:{a['score']:.3f}" for a in k["actions"]),
                    ]
                )
            for s in t["segments"]:
                out.writerow(
                    head
                    + [
                        "segment",
                        f"{s['start']}-{s['end']}",
                        "",
                        "",
                        "",
                        "",
                        s["mean_score"],
                        s["name"],
                    ]
                )
    return Path(path)
