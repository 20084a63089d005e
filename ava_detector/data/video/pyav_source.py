"""Video files decoded with PyAV: seek to the key frame before the clip, decode only what it needs.

Time 0 is the video stream's first timestamp (``stream.start_time``). The frame returned for a time
``t`` is the one *displayed* at ``t``: the last frame whose ``pts`` (in the stream's time base) is at
or before ``t``. Variable-rate and non-30 fps videos therefore give the right frames without any
frame-count arithmetic.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import av
import numpy as np

from ..errors import AVAFormatError
from .frame_source import FrameSource, register_frame_source
from .sampling import TIME_EPS, clip_times


class PyAVVideoSource(FrameSource):
    """The first video stream of one file; the file is opened per read (safe in DataLoader workers)."""

    def __init__(self, path: str, duration: float | None = None):
        self.path = str(path)
        self._duration = duration

    def _open(self):
        if not os.path.isfile(self.path):
            raise AVAFormatError(self.path, None, "video file is missing")
        try:
            container = av.open(self.path)
        except (av.FFmpegError, OSError) as e:
            raise AVAFormatError(self.path, None, f"cannot open video: {e}") from e
        if not container.streams.video:
            container.close()
            raise AVAFormatError(self.path, None, "file has no video stream")
        return container

    @staticmethod
    def _stream_duration(container, stream) -> float:
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        return math.inf

    @property
    def duration(self) -> float:
        """Length of the video stream in seconds (from the file header; read once)."""
        if self._duration is None:
            with self._open() as container:
                self._duration = self._stream_duration(container, container.streams.video[0])
        return self._duration

    def read_times(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        if times.size == 0:
            raise ValueError("read_times needs at least one time")
        try:
            with self._open() as container:
                return self._decode_at(container, times)
        except av.FFmpegError as e:
            raise AVAFormatError(self.path, None, f"cannot decode video: {e}") from e

    def read_clip(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> np.ndarray:
        """As :meth:`FrameSource.read_clip`, opening the file once for the duration and the frames."""
        try:
            with self._open() as container:
                if self._duration is None:
                    self._duration = self._stream_duration(container, container.streams.video[0])
                times = clip_times(center_time, num_frames, stride, target_fps, self._duration)
                return self._decode_at(container, times)
        except av.FFmpegError as e:
            raise AVAFormatError(self.path, None, f"cannot decode video: {e}") from e

    def _decode_at(self, container, times: np.ndarray) -> np.ndarray:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        start = stream.start_time or 0
        order = np.argsort(times, kind="stable")
        first = max(0.0, float(times[order[0]]))
        container.seek(start + int(math.floor(first / tb)), stream=stream, backward=True)

        out: list[np.ndarray | None] = [None] * len(times)
        k = 0
        shown = None  # [frame, rgb array or None]: the frame on screen before the current one
        for frame in container.decode(stream):
            pts = frame.pts if frame.pts is not None else frame.dts
            if pts is None:
                raise AVAFormatError(self.path, None, "a decoded frame has no timestamp")
            t = float((pts - start) * tb)
            current = [frame, None]
            while k < len(order) and t > times[order[k]] + TIME_EPS:
                # this frame starts after the target time: the one before it is on screen then
                out[order[k]] = _rgb(shown if shown is not None else current)
                k += 1
            if k == len(order):
                break
            shown = current
        if shown is None and k < len(order):
            raise AVAFormatError(self.path, None, f"no frames decoded at or after {first:.3f} s")
        while k < len(order):  # times past the last frame: the last frame stays on screen
            out[order[k]] = _rgb(shown)
            k += 1
        return np.stack(out)


def _rgb(entry: list) -> np.ndarray:
    """The RGB array of a ``[frame, array]`` entry, converted once."""
    if entry[1] is None:
        entry[1] = entry[0].to_ndarray(format="rgb24")
    return entry[1]


@register_frame_source("video")
def build_video_source(record: dict) -> PyAVVideoSource:
    """The record's ``video_path`` (its stream is probed for the duration on first use)."""
    if not record.get("video_path"):
        raise AVAFormatError(
            record.get("video_id", "<record>"), None,
            "INPUT.SOURCE='video' but the record has no video_path",
        )
    return PyAVVideoSource(record["video_path"])
