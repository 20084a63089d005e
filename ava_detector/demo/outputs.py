"""The demo's outputs: the annotated video (PyAV, written as frames come), one JSON per keyframe and the
AVA-format detections CSV (the evaluator's writer). Every file appears only complete (temporary file + rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_io import (
    write_ava_csv,
)
from ava_detector.utils.atomic_files import atomic_output
from ava_detector.utils.temp_files import temp_beside

__all__ = [
    "AnnotatedVideoWriter",
    "KeyframeResult",
    "detections_table",
    "format_timestamp",
    "save_png",
    "write_detections_csv",
    "write_keyframe_json",
]


def format_timestamp(timestamp: float) -> str:
    """``%04d`` for whole seconds (as AVA CSVs write them), else three decimals."""
    return f"{int(timestamp):04d}" if float(timestamp).is_integer() else f"{timestamp:.3f}"


@dataclass
class KeyframeResult:
    """Predictions on one keyframe: normalised boxes, person scores and action probabilities."""

    video_id: str
    time: float  # seconds into the video
    timestamp: float  # movie second (start_sec + time), as the CSV writes it
    boxes: np.ndarray  # (K, 4) normalised XYXY
    person_scores: np.ndarray  # (K,)
    action_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 80), np.float32))
    track_ids: np.ndarray | None = None  # (K,) int64 person track ids, None without tracking

    def to_json(self, actions: list[list[tuple[int, str, float]]]) -> dict:
        """The keyframe's JSON: video, times and per person box, score, track id and top actions.

        Args:
            actions: the ``(id, name, score)`` actions to list per person.
        """
        ids = (
            [None] * len(self.boxes)
            if self.track_ids is None
            else np.asarray(self.track_ids).tolist()
        )
        return {
            "video_id": self.video_id,
            "time": round(self.time, 6),
            "timestamp": format_timestamp(self.timestamp),
            "persons": [
                {
                    "box": [round(float(v), 6) for v in box],
                    "score": round(float(s), 6),
                    **({"track_id": int(tid)} if tid is not None else {}),
                    "actions": [{"id": i, "name": n, "score": round(p, 6)} for i, n, p in acts],
                }
                for box, s, tid, acts in zip(self.boxes, self.person_scores, ids, actions)
            ],
        }


def write_keyframe_json(folder: str | Path, result: KeyframeResult, payload: dict) -> Path:
    """``<folder>/<video_id>_<timestamp>.json``, atomically."""
    path = Path(folder) / f"{result.video_id}_{format_timestamp(result.timestamp)}.json"
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """An RGB frame as PNG, atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"cannot encode {path} as PNG")
    with atomic_output(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return Path(path)


def detections_table(results: list[KeyframeResult]) -> AVABoxes:
    """One row per (box, action id 1..C) with its probability, in keyframe order."""
    videos = tuple(dict.fromkeys(r.video_id for r in results))
    parts = [(videos.index(r.video_id), r) for r in results if len(r.boxes)]
    if not parts:
        return AVABoxes.empty(videos)
    video, time, boxes, label, score = [], [], [], [], []
    for code, r in parts:
        k, c = r.action_scores.shape
        video.append(np.full(k * c, code, np.int32))
        time.append(np.full(k * c, r.timestamp, np.float64))
        boxes.append(np.repeat(np.asarray(r.boxes, np.float64), c, axis=0))
        label.append(np.tile(np.arange(1, c + 1, dtype=np.int64), k))
        score.append(np.asarray(r.action_scores, np.float64).reshape(-1))
    columns = [np.concatenate(x) for x in (video, time, boxes, label, score)]
    keep = np.isfinite(columns[-1])  # NaN: an action a class-subset model does not predict
    return AVABoxes(videos, *(c[keep] for c in columns))


def write_detections_csv(
    path: str | Path, results: list[KeyframeResult], person_id: bool = True
) -> Path:
    """The AVA detections CSV ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` of ``results``;
    with track ids (and ``person_id``) a 9th column ``person_id`` holds each box's track id. Atomic.

    Args:
        path: the output file.
        results: keyframe results in order.
        person_id: write the track ids as a 9th column (the evaluator reads 8 columns only).
    """
    table = detections_table(results)
    tracked = [r for r in results if len(r.boxes)]
    if not person_id or not tracked or any(r.track_ids is None for r in tracked):
        write_ava_csv(path, table)
        return Path(path)
    import pandas as pd

    person = np.concatenate(
        [np.repeat(np.asarray(r.track_ids, np.int64), r.action_scores.shape[1]) for r in tracked]
    )
    frame = pd.DataFrame(
        {
            "video": np.asarray(table.videos, dtype=object)[table.video],
            "time": [format_timestamp(t) for t in table.time.tolist()],
            "x1": table.boxes[:, 0],
            "y1": table.boxes[:, 1],
            "x2": table.boxes[:, 2],
            "y2": table.boxes[:, 3],
            "label": table.label,
            "score": table.score,
            "person": person,
        }
    )
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, header=False, index=False, float_format="%.6f")
    return Path(path)


class AnnotatedVideoWriter:
    """H.264 (yuv420p) mp4 written frame by frame to a temporary file, renamed on :meth:`close`.

    Odd frame sizes are padded by one pixel at the right/bottom (yuv420p needs even sizes).

    Args:
        path: the mp4 to write (its folder is created).
        width, height: the frames' size in pixels (frames are RGB uint8 (height, width, 3)).
        rate: the frame rate.
        codec: the PyAV / FFmpeg video encoder.
        crf: the encoder's constant rate factor (lower: better quality, larger file).
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        rate: Fraction | float,
        codec: str = "libx264",
        crf: int = 20,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(self.path)
        os.close(fd)
        self._tmp = Path(tmp)
        self._pad = (height % 2, width % 2)
        self._container = av.open(str(self._tmp), "w", format="mp4")
        stream = self._container.add_stream(codec, rate=Fraction(rate).limit_denominator(1001000))
        if not isinstance(stream, av.VideoStream):
            raise ValueError(f"{codec!r} is not a video codec")
        self._stream = stream
        self._stream.width, self._stream.height = width + self._pad[1], height + self._pad[0]
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf)}
        self.frames = 0

    def write(self, frame_rgb: np.ndarray) -> None:
        if any(self._pad):
            frame_rgb = np.pad(
                frame_rgb, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder and move the file into place."""
        self._container.mux(self._stream.encode())
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (after an error)."""
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)
