"""The benchmark's realistic frame set: natural-looking 640x360 videos as JPEG frames, an x264 mp4
with long GOPs and B-frames, and its training cut, with one record per keyframe."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ava_detector.ava.data.prep import cut_video
from ava_detector.data.video.synthetic import natural_frames, write_jpeg_frames
from ava_detector.data.video.transcode import ClipEncoding
from ava_detector.utils.video_writer import write_mp4

__all__ = ["add_frame_set_arguments", "realistic_records"]


def add_frame_set_arguments(parser: argparse.ArgumentParser, videos: int, seconds: int) -> None:
    """``--videos``, ``--seconds`` and ``--size`` of the generated set, with these defaults."""
    parser.add_argument(
        "--videos", type=int, default=videos, help="videos of the generated frame set"
    )
    parser.add_argument(
        "--seconds", type=int, default=seconds, help="length of each generated video"
    )
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=[360, 640],
        metavar=("H", "W"),
        help="generated frame size (AVA's frames: mostly 360 p)",
    )


def realistic_records(
    root: Path,
    videos: int,
    seconds: int,
    size: tuple[int, int],
    quality: int = 90,
    gop: int = 250,
    clip_span: int = 64,
    cut: bool = True,
) -> tuple[list[dict], str]:
    """Write ``videos`` natural-looking videos (JPEG frames + x264 mp4, 30 fps) under ``root``.

    Args:
        root: an empty folder.
        videos, seconds: how many videos, how long each.
        size: ``(H, W)`` of the frames.
        quality: JPEG quality.
        gop: the mp4's key frame interval (B-frames: 3).
        clip_span: the frames a clip spans, for the training cut's key frames.
        cut: also write the training cut (``cut_video_path``; False: no such field).

    Returns:
        One record per keyframe (every second, at least a clip's half-length from both ends; two
        person boxes each, dataset-record fields as the mapper reads them), and a description.
    """
    records, sizes = [], []
    rng = np.random.RandomState(0)
    for v in range(videos):
        vid = f"nat{v:02d}"
        frames = list(natural_frames(seconds * 30, size[0], size[1], seed=v))
        paths = write_jpeg_frames(root / "frames" / vid, vid, frames, quality=quality)
        sizes += [Path(p).stat().st_size for p in paths[::10]]
        video = write_mp4(root / "videos" / f"{vid}.mp4", frames, 30, crf=18, gop=gop, bframes=3)
        cut_path = None
        if cut:
            cut_path = cut_video(
                video,
                root / "cut" / f"{vid}.mp4",
                0,
                seconds,
                use_ffmpeg=False,
                encoding=ClipEncoding(clip_span=clip_span),
            )
        for sec in range(2, seconds - 1):
            x0, y0 = rng.uniform(0, 0.5, (2, 2)).T
            boxes = np.stack([x0, y0, x0 + 0.3, y0 + 0.4], axis=1).round(3)
            labels = np.zeros((2, 80), np.float32)
            labels[:, rng.randint(0, 80, 2)] = 1
            records.append(
                {
                    "video_id": vid,
                    "sec": sec,
                    "start_sec": 0.0,
                    "fps": 30.0,
                    "keyframe_index": sec * 30,
                    "frames": paths,
                    "video_path": video,
                    "boxes": boxes.tolist(),
                    "labels": labels.tolist(),
                    "scores": [1.0, 1.0],
                    "is_gt": [True, True],
                    "image_id": f"{vid},{sec:04d}",
                }
            )
            if cut_path is not None:
                records[-1]["cut_video_path"] = str(cut_path)
        del frames

    def mbits(key: str) -> float:
        kb = sum(Path(r).stat().st_size for r in {r[key] for r in records}) / 1024
        return kb * 8 / 1024 / (videos * seconds)

    what = (
        f"generated {videos} x {seconds}s {size[0]}x{size[1]}: JPEG q{quality} mean "
        f"{np.mean(sizes) / 1024:.0f} KB, x264 crf 18 gop {gop} 3 B-frames "
        f"({mbits('video_path'):.2f} Mbit/s"
        + (f"; training cut {mbits('cut_video_path'):.2f} Mbit/s)" if cut else ")")
    )
    return records, what
