"""``write_mp4``: RGB frames -> an H.264 file (PyAV), written atomically (temporary file + rename).

Used by the synthetic datasets, the benchmarks' realistic video and the tests.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["write_mp4"]


def write_mp4(
    path: str | Path,
    frames: Sequence[np.ndarray],
    fps: float | Fraction = 30,
    *,
    times: Sequence[float] | None = None,
    crf: int = 12,
    gop: int = 12,
    bframes: int = 0,
    pix_fmt: str = "yuv420p",
) -> str:
    """Encode RGB frames as H.264 at ``fps``, key frame every ``gop`` frames; with ``times``
    (seconds, increasing) each frame gets that presentation time (variable frame rate);
    ``bframes`` > 0 reorders frames as most real H.264 files do; ``pix_fmt`` "yuvj420p" writes
    full-range (JPEG) YUV instead of the usual limited range."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the encoder picks the container from the extension: the temporary file keeps it
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    height, width = frames[0].shape[:2]
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = {"crf": str(crf), "g": str(gop), "bf": str(bframes)}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    os.replace(tmp, path)
    return str(path)
