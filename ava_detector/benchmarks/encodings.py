"""encodings: what each part of the training encoding saves a shuffled video clip, per core.

Writes natural-looking footage (640x360, 30 fps; the data benchmark's frames) losslessly, then encodes
it once per variant, from x264's defaults to :class:`~ava_detector.data.video.transcode.ClipEncoding`
(the training encoding ``data_prep/prepare_ava.py cut`` and ``data_prep/transcode_videos.py``
write), and times, interleaved call by call (A B C A B C ...) in CPU seconds of one thread, the
video source reading the same shuffled 32x2 clips from each, every clip from a freshly opened file
(a shuffled loader over many videos). Prints CPU ms a clip, frames decoded a clip, the bit rate and
the PSNR against the footage.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from tabulate import tabulate

from ava_detector.benchmarks.data import time_interleaved
from ava_detector.data.video import pyav_source
from ava_detector.data.video.synthetic import natural_frames
from ava_detector.data.video.transcode import ClipEncoding, transcode
from ava_detector.utils.video_writer import write_mp4

#: (name, ClipEncoding or None for x264's defaults / the unaligned 1-s cut written by write_mp4)
VARIANTS: list[tuple[str, dict | None]] = [
    ("x264 defaults (key frame every 250, 3 B-frames)", None),
    ("key frame a second, unaligned, 3 B-frames", {"gop": 30}),
    ("key frames at clip starts, 1 unreferenced B", {"bframes": 1, "fast_decode": False}),
    ("key frames at clip starts, 3 unreferenced B", {"bframes": 3, "fast_decode": False}),
    ("the same, crf 23", {"bframes": 3, "fast_decode": False, "crf": 23}),
    ("key frames at clip starts, 1 B, fastdecode", {"bframes": 1}),
    ("training encoding (3 B, fastdecode)", {}),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=12, help="length of the footage")
    parser.add_argument("--size", type=int, nargs=2, default=(360, 640), metavar=("H", "W"))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--crf", type=int, default=18, help="x264 quality of the variants")


def _psnr(path: str, frames: list[np.ndarray]) -> float:
    import av

    with av.open(path) as c:
        mse = [
            np.mean((f.to_ndarray(format="rgb24").astype(np.float64) - ref) ** 2)
            for f, ref in zip(c.decode(video=0), frames)
        ]
    return float(10 * np.log10(255**2 / np.mean(mse)))


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    secs = list(range(2, args.seconds - 1))  # clip centres a clip's half-length from both ends
    order = [secs[i] for i in np.random.RandomState(0).permutation(len(secs))]
    frames = list(natural_frames(args.seconds * 30, args.size[0], args.size[1], seed=0))
    rows: list[list] = []
    runners: dict[str, Callable[[int], object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lossless = write_mp4(Path(tmp) / "lossless.mp4", frames, 30, crf=0, gop=30)
        paths = {}
        for k, (name, spec) in enumerate(VARIANTS):
            out = Path(tmp) / f"v{k}.mp4"
            if spec is None:
                paths[name] = write_mp4(out, frames, 30, crf=args.crf, gop=250, bframes=3)
            elif "gop" in spec:
                paths[name] = write_mp4(out, frames, 30, crf=args.crf, gop=spec["gop"], bframes=3)
            else:
                encoding = ClipEncoding(**{"crf": args.crf, **spec})
                paths[name] = str(transcode(lossless, out, encoding))

        for name, path in paths.items():
            runners[name] = _reader(path, order)
        counted = _count_decoded(runners, len(order))
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(args.rounds):
            for name, rate in time_interleaved(runners, r * len(order), len(order)).items():
                rates[name].append(rate)
        for name, path in paths.items():
            ms = 1000 / statistics.median(rates[name])
            mbit = Path(path).stat().st_size * 8 / 1e6 / args.seconds
            rows.append(
                [name, f"{ms:.1f}", counted[name], f"{mbit:.2f}", f"{_psnr(path, frames):.2f}"]
            )
    base = float(rows[0][1])
    for row in rows:
        row.insert(2, f"{float(row[1]) / base:.2f}")
    print(
        f"shuffled 32x2 clips through the video source, {args.size[0]}x{args.size[1]} natural "
        f"footage, {args.seconds} s at 30 fps, x264 crf {args.crf}; each clip from a freshly opened "
        f"file; 1 thread, CPU time, {args.rounds} rounds x {len(order)} clips interleaved call by "
        "call, median of the rounds:"
    )
    print(
        tabulate(
            rows,
            headers=[
                "encoding",
                "CPU ms/clip",
                "vs defaults",
                "frames decoded",
                "Mbit/s",
                "PSNR dB",
            ],
            tablefmt="github",
        )
    )
    return 0


def _reader(path: str, order: list[int]) -> Callable[[int], object]:
    """Call ``i``: the 32x2 clip around second ``order[i]`` of ``path``, from a fresh open."""
    source = pyav_source.PyAVVideoSource(path, cache=pyav_source.VideoCache(0))

    def read(i: int) -> object:
        return source.read_clip_lazy(float(order[i % len(order)]), 32, 2, 30)

    return read


def _count_decoded(runners: dict[str, Callable[[int], object]], n: int) -> dict[str, str]:
    """The mean number of frames the video source decodes for one of the ``n`` clips, per runner
    (a warm-up pass: the decoder's entries counted)."""
    counts: dict[str, list[int]] = {name: [] for name in runners}
    next_entry = pyav_source._OpenVideo.next_entry
    seen = [0]

    def counting(self: pyav_source._OpenVideo) -> pyav_source._Entry | None:
        entry = next_entry(self)
        seen[0] += entry is not None
        return entry

    pyav_source._OpenVideo.next_entry = counting  # type: ignore[method-assign]
    try:
        for name, fn in runners.items():
            for i in range(n):
                seen[0] = 0
                fn(i)
                counts[name].append(seen[0])
    finally:
        pyav_source._OpenVideo.next_entry = next_entry  # type: ignore[method-assign]
    return {name: f"{np.mean(c):.1f}" for name, c in counts.items()}
