"""Person boxes for the demo's keyframes: from an AVA-format boxes CSV or a registered dataset's ground truth.

A provider is a callable ``provider(timestamp, frame_rgb) -> (boxes (K, 4) normalised XYXY float32,
scores (K,) float32)`` where ``timestamp`` is the keyframe's movie second as the CSVs write it
(``start_sec`` + seconds into the video). Keyframes a file does not annotate get no boxes. The
Detectron2 person detector (:mod:`.person_detector`) has the same signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ava_detector.ava.data.csv_formats import (
    parse_annotations,
    parse_proposals,
    read_text,
)
from ava_detector.ava.data.timestamps import (
    format_second,
    second_value,
)
from ava_detector.data.errors import InputFileError

__all__ = [
    "BoxProvider",
    "CSVBoxProvider",
    "DatasetBoxProvider",
    "check_timestamps_match",
    "no_boxes",
]

logger = logging.getLogger(__name__)

BoxProvider = Callable[[float, np.ndarray], tuple[np.ndarray, np.ndarray]]
_COORDS = ["x1", "y1", "x2", "y2"]
# A keyframe time matches a CSV timestamp when it is this close to it (seconds).
_SECOND_TOLERANCE = 1e-3
_PER_SECOND = round(1 / _SECOND_TOLERANCE)


def no_boxes() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


def _key(timestamp: float) -> int:
    """A timestamp as whole milliseconds: keyframes match within ``_SECOND_TOLERANCE`` (also those of
    datasets with several keyframes a second, 902.5)."""
    return int(round(float(timestamp) / _SECOND_TOLERANCE))


def _seconds_of(keys: Iterable[int]) -> list[int | float]:
    """Timestamps of :func:`_key` keys, ints for whole seconds."""
    return [second_value(k / _PER_SECOND) for k in sorted(keys)]


def _is_proposal_file(text: str) -> bool:
    """Proposal files have 8 columns with an empty or -1 label (column 7); ground truth has an id."""
    for line in text.splitlines():
        fields = line.split(",")
        if line.strip():
            return len(fields) == 8 and fields[6].strip() in ("", "-1")
    return False


def _group(table: pd.DataFrame, scores: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Unique boxes (annotation files repeat a box per action) per timestamp (key: :func:`_key`),
    highest score kept."""
    table = table.assign(score=scores).dropna(subset=_COORDS)
    table = table.sort_values("score", ascending=False, kind="stable")
    table = table.drop_duplicates(["sec", *_COORDS]).sort_values(["sec", "line"], kind="stable")
    return {
        _key(sec): (g[_COORDS].to_numpy(np.float32), g["score"].to_numpy(np.float32))
        for sec, g in table.groupby("sec", sort=True)
    }


def _stamp_range(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    text = [format_second(s) for s in (seconds[0], seconds[-1])]
    if len(seconds) == 1:
        return f"{text[0]} (1 second)"
    return f"{text[0]}..{text[1]} ({len(seconds)} seconds)"


def check_timestamps_match(
    provider_seconds: list[float], keyframes: list[float], source: str | Path
) -> None:
    """Refuse boxes none of whose timestamps is a keyframe's: say which the file has and which the
    video's keyframes are (a missing ``--start-sec`` is the usual cause).

    Args:
        provider_seconds: the seconds the boxes file annotates.
        keyframes: the keyframe timestamps (``start_sec`` + seconds into the video).
        source: the boxes file or dataset, named in the error.

    Raises:
        InputFileError: when no keyframe has boxes.
    """
    wanted = {_key(t) for t in keyframes}
    if not provider_seconds or wanted & {_key(s) for s in provider_seconds}:
        return
    raise InputFileError(
        source,
        None,
        f"no box timestamp is a keyframe's: the file has "
        f"{_stamp_range(sorted(provider_seconds))}, the video's "
        f"keyframes are {_stamp_range(sorted(keyframes))} (set "
        f"--start-sec to the timestamp of video time 0)",
    )


class CSVBoxProvider:
    """Boxes of one video from an AVA-format CSV: a proposals file (``...,label,score``; boxes with
    score >= ``threshold``) or a ground-truth file (score 1). The kind is read off the first row."""

    def __init__(self, path: str | Path, video_id: str, threshold: float = 0.0) -> None:
        text = read_text(path, "boxes")
        # Any millisecond is a possible keyframe (datasets with several keyframes a second).
        if _is_proposal_file(text):
            table = parse_proposals(text, path, keyframe_rate=_PER_SECOND).table
            scores = table["score"].to_numpy(np.float32)
        else:
            table = parse_annotations(text, path, keyframe_rate=_PER_SECOND).table
            scores = np.ones(len(table), np.float32)
        videos = sorted(set(table["video_id"]))
        if video_id not in videos:
            if len(videos) != 1:
                raise InputFileError(
                    path,
                    None,
                    f"no rows for video {video_id!r}; the file has {videos[:10]} (pass --video-id)",
                )
            logger.info(f"{path}: using the boxes of its only video {videos[0]!r}")
            video_id = videos[0]
        keep = (table["video_id"] == video_id).to_numpy() & (scores >= threshold)
        self.video_id = video_id
        self.path = Path(path)
        self.boxes = _group(table[keep], scores[keep])

    @property
    def seconds(self) -> list[int | float]:
        """The timestamps with boxes."""
        return _seconds_of(self.boxes)

    def __call__(self, timestamp: float, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.boxes.get(_key(timestamp), no_boxes())


class DatasetBoxProvider:
    """Ground-truth boxes of ``video_id`` in the records of a registered dataset
    (``DatasetCatalog.get(name)``); ``start_sec`` is the video's, from its records."""

    def __init__(self, records: list[dict], video_id: str, name: str = "<dataset>") -> None:
        mine = [r for r in records if r["video_id"] == video_id]
        if not mine:
            ids = sorted({r["video_id"] for r in records})
            raise KeyError(
                f"dataset {name!r} has no keyframes of video {video_id!r} "
                f"(videos: {ids[:10]}); pass --video-id"
            )
        self.video_id = video_id
        self.start_sec = float(mine[0].get("start_sec", 0.0))
        self.boxes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for r in mine:
            boxes = np.asarray(r["boxes"], np.float32).reshape(-1, 4)
            is_gt = np.asarray(r.get("is_gt", np.ones(len(boxes), bool)), bool).reshape(-1)
            scores = np.ones(int(is_gt.sum()), np.float32)
            self.boxes[_key(r["sec"])] = (boxes[is_gt], scores)
        self.video_paths = sorted({str(r["video_path"]) for r in mine if r.get("video_path")})

    @property
    def seconds(self) -> list[int | float]:
        """The timestamps with boxes."""
        return _seconds_of(self.boxes)

    def __call__(self, timestamp: float, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.boxes.get(_key(timestamp), no_boxes())
