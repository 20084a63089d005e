"""The streaming demo: decode a video once, predict actions at keyframes, write everything as it goes.

Frames are decoded in order into a :class:`FrameRingBuffer`. Keyframe ``t`` is processed as soon as a
frame after its clip's last sample time has been decoded (or the stream ended): person boxes from the
provider, the action model on the clip the test-time mapper builds, a JSON for the keyframe. Each
frame is written (boxes and top actions of the latest keyframe at or before it drawn on it) once the
keyframe that governs it is done, so the buffer holds about one clip's span plus its look-ahead,
whatever the video's length.
"""

from __future__ import annotations

import math
import time as _time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from ..data.errors import AVAFormatError
from ..data.video.pyav_source import frame_to_rgb
from ..data.video.sampling import TIME_EPS
from ..evaluation.csv_io import write_ava_csv
from .box_providers import BoxProvider
from .drawing import draw_persons, top_actions
from .frame_buffer import FrameRingBuffer
from .outputs import (
    AnnotatedVideoWriter,
    KeyframeResult,
    detections_table,
    save_png,
    write_keyframe_json,
)
from .predictor import ActionPredictor
from .schedule import keyframe_times, parse_every

__all__ = ["DemoSummary", "open_video", "run_video_demo"]


@dataclass
class DemoSummary:
    """What a run produced and how it went."""

    output: Path
    csv: Path | None
    json_dir: Path | None
    frames: int
    keyframes: list[KeyframeResult] = field(default_factory=list)
    peak_buffered_frames: int = 0
    seconds: float = 0.0


def open_video(path: str | Path):
    """``(container, stream)`` of the first video stream, or :class:`AVAFormatError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AVAFormatError(path, None, "input video not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise AVAFormatError(path, None, f"cannot open video: {err}") from err
    if not container.streams.video:
        container.close()
        raise AVAFormatError(path, None, "file has no video stream")
    return container, container.streams.video[0]


def _stream_info(container, stream) -> tuple[float, float, int | None]:
    """(frame rate, duration in seconds or inf, frame count or None) from the headers."""
    rate = float(stream.average_rate or stream.guessed_rate or 30)
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = math.inf
    frames = stream.frames or (round(duration * rate) if math.isfinite(duration) else None)
    return rate, duration, frames


def run_video_demo(
    input_path: str | Path,
    output_path: str | Path,
    predictor: ActionPredictor,
    boxes: BoxProvider,
    *,
    action_names: Mapping[int, str],
    every: str | float = "1",
    start_sec: float = 0.0,
    video_id: str | None = None,
    top_k: int = 3,
    action_threshold: float = 0.0,
    csv_path: str | Path | None = None,
    json_dir: str | Path | None = None,
    snapshot: str | Path | None = None,
    progress: bool = True,
) -> DemoSummary:
    """Annotate ``input_path`` into ``output_path``; write the detections CSV and per-keyframe JSONs.

    Keyframes are every ``every`` (seconds, or ``"15f"`` frames) from the first frame; the CSV and the
    JSONs stamp them ``start_sec + t`` (the movie second of an AVA-style clip) under ``video_id``
    (default: the input's file name without extension). ``snapshot``: a PNG of the annotated frame
    of the first keyframe with persons.
    """
    began = _time.perf_counter()
    video_id = video_id or Path(input_path).stem
    container, stream = open_video(input_path)
    stream.thread_type = "AUTO"
    rate, duration, total = _stream_info(container, stream)
    schedule = keyframe_times(parse_every(every, rate), duration)
    before, after = predictor.extent
    buffer = FrameRingBuffer(video_id)
    pending: deque[tuple[float, np.ndarray]] = deque()
    summary = DemoSummary(Path(output_path), Path(csv_path) if csv_path else None,
                          Path(json_dir) if json_dir else None, 0)
    state = {"drawn": None, "next": next(schedule, None), "snap": None}
    writer: AnnotatedVideoWriter | None = None
    bar = tqdm(total=total, unit="frame", desc=f"demo {video_id}", disable=not progress)

    def set_next(kf):
        state["next"] = kf
        buffer.keep_from = kf - before if kf is not None else math.inf

    def emit(limit: float) -> None:
        while pending and pending[0][0] < limit - TIME_EPS:
            t, rgb = pending.popleft()
            if state["drawn"]:
                rgb = draw_persons(rgb, *state["drawn"])
            if snapshot and state["snap"] is not None and abs(t - state["snap"]) < TIME_EPS:
                save_png(snapshot, rgb)
                state["snap"] = math.nan
            writer.write(rgb)
            summary.frames += 1
            bar.update(1)

    def process(kt: float) -> None:
        emit(kt)
        timestamp = start_sec + kt
        person, person_scores = boxes(timestamp, buffer.read_times([kt])[0])
        result = KeyframeResult(video_id, kt, timestamp, person, person_scores)
        pixels = np.zeros((0, 4), np.float32)
        if len(person):
            inst = predictor(buffer, kt, person)
            result.action_scores = inst.scores.numpy()
            pixels = inst.pred_boxes.tensor.numpy()
        acts = [top_actions(s, action_names, top_k, action_threshold) for s in result.action_scores]
        state["drawn"] = (pixels, [[f"{n} {p:.2f}" for _, n, p in a] for a in acts])
        if len(person) and state["snap"] is None:
            state["snap"] = buffer.read_time_of(kt)
        if summary.json_dir is not None:
            write_keyframe_json(summary.json_dir, result, result.to_json(acts))
        summary.keyframes.append(result)

    try:
        for frame in container.decode(stream):
            t = _frame_time(frame, stream, summary.frames + len(pending), rate)
            rgb = frame_to_rgb(frame)  # the conversion the video source uses
            if writer is None:
                writer = AnnotatedVideoWriter(output_path, rgb.shape[1], rgb.shape[0], rate)
            buffer.push(t, rgb)
            pending.append((t, rgb))
            while state["next"] is not None and t > state["next"] + after + TIME_EPS:
                process(state["next"])
                set_next(next(schedule, None))
            emit(state["next"] if state["next"] is not None else math.inf)
        if writer is None:
            raise AVAFormatError(input_path, None, "no frames could be decoded")
        end = min(duration, buffer.last_time + 1.0 / rate)
        buffer.finish(end)
        while state["next"] is not None and state["next"] < end - TIME_EPS:
            process(state["next"])
            set_next(next(schedule, None))
        emit(math.inf)
        writer.close()
    except BaseException as err:
        if writer is not None:
            writer.abort()
        if isinstance(err, av.FFmpegError):
            raise AVAFormatError(input_path, None, f"cannot decode video: {err}") from err
        raise
    finally:
        container.close()
        bar.close()
    if summary.csv is not None:
        write_ava_csv(summary.csv, detections_table(summary.keyframes))
    summary.peak_buffered_frames = buffer.peak
    summary.seconds = _time.perf_counter() - began
    return summary


def _frame_time(frame, stream, index: int, rate: float) -> float:
    """Seconds from the stream's start to ``frame`` (its pts; the frame count when it has none)."""
    pts = frame.pts if frame.pts is not None else frame.dts
    if pts is None or stream.time_base is None:
        return index / rate
    return float((pts - (stream.start_time or 0)) * stream.time_base)
