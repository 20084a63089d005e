"""JPEG frame folders (PySlowFast layout: ``frames/<vid>/<vid>_%06d.jpg`` listed by a frame list)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import AVAFormatError
from .frame_source import FrameSource, register_frame_source
from .sampling import clip_indices, frame_at_times


def read_rgb(path: str) -> np.ndarray:
    """One image file as uint8 ``(H, W, 3)`` RGB; :class:`AVAFormatError` naming it if missing/corrupt."""
    if not os.path.isfile(path):
        raise AVAFormatError(path, None, "frame file is missing")
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise AVAFormatError(path, None, "frame file cannot be decoded (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class JpegFrameSource(FrameSource):
    """Frames given as image paths in timeline order, ``fps`` frames per second from time 0."""

    def __init__(self, frames: Sequence[str], fps: float):
        if len(frames) == 0:
            raise AVAFormatError("<frame list>", None, "a video with no frames")
        self.frames = frames
        self.fps = float(fps)
        self.path = str(frames[0])

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps

    def read_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at these 0-based timeline indices (each distinct file decoded once)."""
        decoded: dict[int, np.ndarray] = {}
        for i in indices:
            i = int(i)
            if i not in decoded:
                if not 0 <= i < len(self.frames):
                    raise IndexError(f"frame index {i} outside [0, {len(self.frames)})")
                decoded[i] = read_rgb(str(self.frames[i]))
        shapes = {a.shape for a in decoded.values()}
        if len(shapes) > 1:
            raise AVAFormatError(self.path, None, f"frames of one video differ in size: {sorted(shapes)}")
        return np.stack([decoded[int(i)] for i in indices])

    def read_times(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.read_indices(frame_at_times(times, self.fps, len(self.frames)))

    def read_clip(
        self, center_time: float, num_frames: int, stride: int, target_fps: float
    ) -> np.ndarray:
        """On a timeline whose rate is a whole multiple of ``target_fps`` (AVA's and Kinetics' 30 fps
        frames): exactly :func:`clip_indices` around the centre frame; otherwise by time."""
        step = stride * self.fps / target_fps
        if abs(step - round(step)) > 1e-9 or round(step) < 1:
            return super().read_clip(center_time, num_frames, stride, target_fps)
        center = int(round(center_time * self.fps))
        return self.read_indices(clip_indices(center, num_frames, int(round(step)), len(self.frames)))


@register_frame_source("frames")
def build_jpeg_source(record: dict) -> JpegFrameSource:
    """The record's ``frames`` list at its ``fps``."""
    if not record.get("frames"):
        raise AVAFormatError(
            record.get("video_id", "<record>"), None,
            "INPUT.SOURCE='frames' but the record has no frame list",
        )
    return JpegFrameSource(record["frames"], record["fps"])
