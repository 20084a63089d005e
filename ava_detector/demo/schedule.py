"""When the demo runs the action model: the keyframe schedule and the clip's extent around a keyframe.

Pure functions: ``--every`` text -> seconds, keyframe times of a video, and how far before/after a
keyframe its clip reaches (the same :func:`~ava_detector.data.video.sampling.clip_times` the
mapper samples with), which is what bounds the demo's frame buffer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np

from ava_detector.data.video.sampling import clip_times

__all__ = ["clip_extent", "keyframe_times", "parse_every"]

_EVERY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|f|frames?)?\s*$")


def parse_every(text: str | float, fps: float) -> float:
    """Seconds between keyframes from ``"2"``/``"2s"`` (seconds) or ``"15f"`` (frames at ``fps``)."""
    m = _EVERY.match(str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(
            f"--every must be a positive number of seconds ('2', '0.5s') or frames "
            f"('15f'), got {text!r}"
        )
    value = float(m.group(1))
    if m.group(2) and m.group(2).startswith("f"):
        if not fps > 0:
            raise ValueError(f"--every {text!r} is in frames but the video has no frame rate")
        return value / fps
    return value


def keyframe_times(every: float, duration: float = math.inf, first: float = 0.0) -> Iterator[float]:
    """``first, first + every, ...`` strictly before ``duration`` (computed by multiplication, so no
    round-off accumulates over long videos)."""
    if every <= 0:
        raise ValueError(f"every must be > 0, got {every}")
    k = 0
    while (t := first + k * every) < duration:
        yield t
        k += 1


def clip_extent(num_frames: int, stride: int, target_fps: float) -> tuple[float, float]:
    """(seconds before, seconds after) a keyframe that its clip's sample times reach."""
    center = num_frames * stride / target_fps  # far enough from 0 that nothing is clamped
    times = clip_times(center, num_frames, stride, target_fps, math.inf)
    return float(center - np.min(times)), float(np.max(times) - center)
