"""``FrameRingBuffer``: the decoded frames around the next keyframe, as a :class:`FrameSource`.

The demo decodes its input once, in order, and pushes every frame here; frames no future clip can
need (shown before ``keep_from``) are dropped on push, so memory is bounded by one clip's span plus
the look-ahead, whatever the video's length. Registered as frame source ``"demo_buffer"`` (the record
carries the buffer under ``"frame_source"``), so the test-time ``AVADatasetMapper`` builds the clip
exactly as in evaluation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from ava_detector.data.video.frame_source import (
    FrameSource,
    register_frame_source,
)
from ava_detector.data.video.sampling import TIME_EPS

__all__ = ["BUFFER_SOURCE", "FrameRingBuffer"]

#: ``INPUT.SOURCE`` name of the buffer for the mapper.
BUFFER_SOURCE = "demo_buffer"


class FrameRingBuffer(FrameSource):
    """Frames ``(time, rgb)`` in display order; ``read_times`` returns the frame shown at each time."""

    def __init__(self, path: str = "<stream>") -> None:
        self.path = path
        self._times: deque[float] = deque()
        self._frames: deque[np.ndarray] = deque()
        self._dropped = 0
        self._duration = math.inf
        self.keep_from = -math.inf
        self.peak = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def duration(self) -> float:
        """Infinite while decoding; the end of the last frame after :meth:`finish`."""
        return self._duration

    @property
    def last_time(self) -> float:
        return self._times[-1] if self._times else -math.inf

    def push(self, time: float, rgb: np.ndarray) -> None:
        """Append the next decoded frame and drop the frames shown only before ``keep_from``."""
        if self._times and time <= self._times[-1]:
            raise ValueError(f"{self.path}: frame time {time} not after {self._times[-1]}")
        self._times.append(float(time))
        self._frames.append(rgb)
        while len(self._times) >= 2 and self._times[1] <= self.keep_from + TIME_EPS:
            self._times.popleft()
            self._frames.popleft()
            self._dropped += 1
        self.peak = max(self.peak, len(self._frames))

    def finish(self, duration: float) -> None:
        """The stream ended: times past ``duration`` show the last frame."""
        self._duration = max(float(duration), self.last_time + TIME_EPS)

    def read_time_of(self, time: float) -> float:
        """Start time of the frame shown at ``time``."""
        stamps = np.fromiter(self._times, dtype=np.float64, count=len(self._times))
        return float(
            stamps[max(0, int(np.searchsorted(stamps, time + TIME_EPS, side="right")) - 1)]
        )

    def span(self, start: float, end: float) -> list[tuple[float, np.ndarray]]:
        """The frames shown between ``start`` and ``end`` seconds (the one shown at ``start`` first).

        Args:
            start: first time.
            end: last time.
        """
        stamps = np.fromiter(self._times, dtype=np.float64, count=len(self._times))
        lo = max(0, int(np.searchsorted(stamps, start + TIME_EPS, side="right")) - 1)
        hi = int(np.searchsorted(stamps, end + TIME_EPS, side="right"))
        return [(float(stamps[i]), self._frames[i]) for i in range(lo, hi)]

    def read_times(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        if not self._frames:
            raise ValueError(f"{self.path}: no frames decoded")
        stamps = np.fromiter(self._times, dtype=np.float64, count=len(self._times))
        idx = np.searchsorted(stamps, times + TIME_EPS, side="right") - 1
        if (idx < 0).any() and self._dropped:
            raise RuntimeError(f"{self.path}: time {times.min():.3f} s was dropped from the buffer")
        if (times > stamps[-1] + TIME_EPS).any() and math.isinf(self._duration):
            # The frame shown at a time after the newest one is not known until the next is decoded.
            raise RuntimeError(f"{self.path}: time {times.max():.3f} s is not decoded yet")
        return np.stack([self._frames[i] for i in np.maximum(idx, 0)])


@register_frame_source(BUFFER_SOURCE)
def build_buffer_source(record: dict) -> FrameRingBuffer:
    """The record's ``frame_source`` (a :class:`FrameRingBuffer` filled by the demo)."""
    return record["frame_source"]
