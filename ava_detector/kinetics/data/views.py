"""Where a Kinetics clip starts in time and where its crop lies in space (PySlowFast's conventions).

Test views: ``num_clips`` clips whose starts are spread uniformly over the video
(``start_k = k * (duration - span) / num_clips``, PySlowFast's ``get_start_end_idx``), times
``num_crops`` square crops along the long side of the resized frame (0 = left/top, then evenly to
right/bottom; the middle one of 3 is centred as ``ceil((L - size) / 2)``, PySlowFast's
``uniform_crop``). Training: a start drawn uniformly in ``[0, duration - span]``.
"""

from __future__ import annotations

import math

import numpy as np
from detectron2.data.transforms import Augmentation, CropTransform

__all__ = [
    "UniformCrop",
    "clip_span",
    "expand_test_views",
    "random_clip_start",
    "view_clip_start",
    "uniform_crop_offset",
]


def clip_span(num_frames: int, stride: int, target_fps: float) -> float:
    """Seconds covered by ``num_frames`` frames ``stride`` frames of a ``target_fps`` timeline apart."""
    return num_frames * stride / float(target_fps)


def view_clip_start(duration: float, span: float, index: int, num_clips: int) -> float:
    """Start (s) of test clip ``index`` of ``num_clips``: ``index * max(duration - span, 0) / num_clips``."""
    if not 0 <= index < num_clips:
        raise ValueError(f"clip index {index} outside [0, {num_clips})")
    return max(duration - span, 0.0) * index / num_clips


def random_clip_start(
    duration: float, span: float, rng: np.random.Generator | None = None
) -> float:
    """A training clip start drawn uniformly in ``[0, max(duration - span, 0)]``."""
    u = (rng or np.random).uniform(0.0, 1.0)
    return max(duration - span, 0.0) * float(u)


def uniform_crop_offset(
    height: int, width: int, size: int, index: int, num_crops: int
) -> tuple[int, int]:
    """(y0, x0) of crop ``index`` of ``num_crops`` ``size`` x ``size`` crops of a ``height`` x ``width``
    frame: spread along the long side (``ceil(index * (L - size) / (num_crops - 1))``; centred when
    ``num_crops == 1``), centred on the short side (``ceil((S - size) / 2)``)."""
    if size > min(height, width):
        raise ValueError(f"crop {size} larger than the frame {height}x{width}")
    if not 0 <= index < num_crops:
        raise ValueError(f"crop index {index} outside [0, {num_crops})")
    y0 = math.ceil((height - size) / 2)
    x0 = math.ceil((width - size) / 2)
    if num_crops > 1:
        along = -(-index * (max(height, width) - size) // (num_crops - 1))  # exact integer ceil
        if height > width:
            y0 = along
        else:
            x0 = along
    return y0, x0


class UniformCrop(Augmentation):
    """The ``index``-th of ``num_crops`` square test crops (:func:`uniform_crop_offset`)."""

    def __init__(self, size: int, index: int, num_crops: int) -> None:
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> CropTransform:
        h, w = image.shape[:2]
        y0, x0 = uniform_crop_offset(h, w, self.size, self.index, self.num_crops)
        return CropTransform(x0, y0, self.size, self.size, orig_w=w, orig_h=h)


def expand_test_views(records: list[dict], num_clips: int, num_crops: int) -> list[dict]:
    """One record per test view: the video's record plus ``view`` (= clip * num_crops + crop),
    ``clip_index``, ``crop_index`` and ``num_views``; views of a video are consecutive."""
    num_views = num_clips * num_crops
    return [
        {
            **r,
            "view": v,
            "clip_index": v // num_crops,
            "crop_index": v % num_crops,
            "num_views": num_views,
        }
        for r in records
        for v in range(num_views)
    ]
