"""Clip sampling on a frame timeline or in time: pure functions, the PySlowFast conventions.

A clip of ``N`` frames at stride ``r`` around a centre frame ``c`` takes ``c - N*r/2, ..., c + N*r/2 - r``
(PySlowFast's convention), clamped to the video. The Slow pathway picks ``linspace(0, N-1, N // alpha)`` (rounded
down) of those frames. The published checkpoints were trained on exactly these frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

# Slack when comparing times with frame start times: float round-off, not a fraction of a frame.
TIME_EPS = 1e-6


def clip_indices(center: int, num_frames: int, stride: int, num_total: int) -> np.ndarray:
    """Frame indices ``center - N*r//2 + i*r`` (i < N), clamped to ``[0, num_total - 1]``."""
    if num_total <= 0:
        raise ValueError(f"a clip needs at least one frame, got num_total={num_total}")
    start = center - (num_frames * stride) // 2
    idx = start + stride * np.arange(num_frames, dtype=np.int64)
    return np.clip(idx, 0, num_total - 1)


def clip_times(
    center_time: float, num_frames: int, stride: int, target_fps: float, duration: float
) -> np.ndarray:
    """Sample times ``center_time + (i - N/2) * r / target_fps`` (i < N), clamped to ``[0, duration)``.

    On a ``target_fps`` frame timeline these are the start times of :func:`clip_indices`' frames; a
    time at or past ``duration`` is moved just inside it (the last frame).
    """
    offsets = (np.arange(num_frames, dtype=np.float64) - num_frames / 2) * stride / target_fps
    times = center_time + offsets
    return np.clip(times, 0.0, max(0.0, np.nextafter(duration, -math.inf)))


def frame_at_times(times: Sequence[float] | np.ndarray, fps: float, num_total: int) -> np.ndarray:
    """Index of the frame displayed at each time on a constant-rate timeline (frame k covers
    ``[k/fps, (k+1)/fps)``), clamped to ``[0, num_total - 1]``."""
    idx = np.floor(np.asarray(times, dtype=np.float64) * fps + TIME_EPS).astype(np.int64)
    return np.clip(idx, 0, num_total - 1)


def pathway_indices(num_frames: int, alpha: int) -> torch.Tensor:
    """Positions of the Slow pathway's frames in a Fast clip of ``num_frames`` (PySlowFast's picking).

    ``N=32, alpha=4`` gives ``[0, 4, 8, 13, 17, 22, 26, 31]``.
    """
    if alpha <= 0 or num_frames // alpha == 0:
        raise ValueError(f"NUM_FRAMES={num_frames} must be at least ALPHA={alpha} > 0")
    return torch.linspace(0, num_frames - 1, num_frames // alpha).long()
