"""Real-AVA preparation: cut the movies to [900 s, 1801 s), extract frames at 30 fps, build frame lists.

The published numbers were produced from frames extracted with (PySlowFast's scripts)::

    ffmpeg -ss 900 -t 901 -i <movie> <cut>/<vid>.mp4
    ffmpeg -i <cut>/<vid>.mp4 -r 30 -q:v 1 <frames>/<vid>/<vid>_%06d.jpg

Different ffmpeg builds resample differently and users lose ~3 mAP to that, so the exact commands are
kept here (``ffmpeg_*_command``) and used when ``ffmpeg`` is on the PATH. Without it, a PyAV fallback
does the same deterministically: output frame ``j`` (time ``j / fps``) is the last decoded frame
whose time is ``< (j + 0.5) / fps`` - the nearest-frame rule of ffmpeg's ``-r`` - written as JPEG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ava_detector.ava.data.frame_lists import format_frame_list
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_write_text, replace_folder

__all__ = [
    "ffmpeg_cut_command",
    "ffmpeg_frames_command",
    "output_frame_sources",
    "cut_video",
    "extract_frames",
    "scan_frames",
    "write_frame_lists",
]


def ffmpeg_cut_command(
    src: str | Path,
    dst: str | Path,
    start: float = 900,
    length: float = 901,
    gop: int | None = None,
) -> list[str]:
    """The exact cut command (seconds [start, start + length)); ``gop``: frames between key frames
    of the re-encoded cut (None: the encoder's default, 250 for x264)."""
    keyint = ["-g", str(int(gop))] if gop else []
    return [
        "ffmpeg",
        "-y",
        "-ss",
        f"{start:g}",
        "-t",
        f"{length:g}",
        "-i",
        str(src),
        *keyint,
        str(dst),
    ]


def ffmpeg_frames_command(
    video: str | Path, out_dir: str | Path, video_id: str, fps: float = 30
) -> list[str]:
    """The exact frame-extraction command (1-based ``<vid>_%06d.jpg``, best JPEG quality)."""
    return [
        "ffmpeg",
        "-i",
        str(video),
        "-r",
        f"{fps:g}",
        "-q:v",
        "1",
        str(Path(out_dir) / f"{video_id}_%06d.jpg"),
    ]


def output_frame_sources(times: np.ndarray, fps: float, num_out: int) -> np.ndarray:
    """For output frames ``0..num_out-1`` at ``fps``: the index of the input frame (input times
    ``times`` ascending, seconds from the start) each one shows (last one with time < (j+0.5)/fps)."""
    edges = (np.arange(num_out) + 0.5) / fps
    return np.clip(np.searchsorted(np.asarray(times), edges, side="left") - 1, 0, len(times) - 1)


def _frame_seconds(frame: av.VideoFrame, path: str | Path) -> float:
    if frame.pts is None or frame.time_base is None:
        raise InputFileError(path, None, "cannot decode video: a frame has no timestamp")
    return float(frame.pts * frame.time_base)


def _decoded(path: str | Path) -> tuple[np.ndarray, list[np.ndarray], float]:
    """(times in seconds from the stream start, RGB frames) of a whole video."""
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            frames = [(_frame_seconds(f, path), f.to_ndarray(format="rgb24")) for f in c.decode(s)]
            rate = float(s.average_rate or 30)
    except (av.FFmpegError, IndexError) as e:
        raise InputFileError(path, None, f"cannot decode video: {e}") from None
    if not frames:
        raise InputFileError(path, None, "video has no frames")
    frames.sort(key=lambda x: x[0])
    times = np.array([t for t, _ in frames])
    return times - times[0], [f for _, f in frames], rate


def cut_video(
    src: str | Path,
    dst: str | Path,
    start: float = 900,
    length: float = 901,
    use_ffmpeg: bool | None = None,
    gop: int | None = None,
) -> Path:
    """Cut ``src`` to ``[start, start + length)`` s into ``dst`` (ffmpeg if available, else PyAV re-encode).

    Args:
        src: the movie.
        dst: the cut video (``.mp4``).
        start: first second kept.
        length: seconds kept.
        use_ffmpeg: ffmpeg (None: where installed) or PyAV.
        gop: frames between key frames (None: the encoder's default). A clip read from the video
            decodes from the key frame before it, so short intervals make random access cheaper.
    """
    dst = Path(dst)
    # not atomic_output: the encoders pick the container from the extension, kept here
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    if use_ffmpeg is None:
        use_ffmpeg = shutil.which("ffmpeg") is not None
    if use_ffmpeg:
        subprocess.run(
            ffmpeg_cut_command(src, tmp, start, length, gop), check=True, capture_output=True
        )
    else:
        times, frames, rate = _decoded(src)
        keep = [f for t, f in zip(times, frames) if start <= t < start + length]
        if not keep:
            raise InputFileError(src, None, f"no frames in [{start:g}, {start + length:g}) s")
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = (
                keep[0].shape[1],
                keep[0].shape[0],
                "yuv420p",
            )
            stream.options = {"crf": "17", **({"g": str(int(gop))} if gop else {})}
            for f in keep:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            out.mux(stream.encode())
    os.replace(tmp, dst)
    return dst


def extract_frames(
    video: str | Path,
    frames_dir: str | Path,
    video_id: str,
    fps: float = 30,
    use_ffmpeg: bool | None = None,
    quality: int = 97,
) -> int:
    """Write ``frames_dir/<vid>/<vid>_%06d.jpg`` at ``fps``; returns the frame count. The folder is
    built under a temporary name and renamed, so a crash leaves no partial folder."""
    out = Path(frames_dir) / video_id
    tmp = Path(frames_dir) / f".{video_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if use_ffmpeg is None:
        use_ffmpeg = shutil.which("ffmpeg") is not None
    if use_ffmpeg:
        subprocess.run(
            ffmpeg_frames_command(video, tmp, video_id, fps), check=True, capture_output=True
        )
    else:
        times, frames, rate = _decoded(video)
        duration = times[-1] + 1.0 / rate
        for j, i in enumerate(output_frame_sources(times, fps, int(round(duration * fps)))):
            path = tmp / f"{video_id}_{j + 1:06d}.jpg"
            if not cv2.imwrite(
                str(path),
                cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, quality],
            ):
                raise OSError(f"cannot write {path}")
    replace_folder(tmp, out)
    return len(list(out.glob(f"{video_id}_*.jpg")))


def scan_frames(frames_dir: str | Path, video_ids: Iterable[str]) -> dict[str, list[str]]:
    """``{vid: ["<vid>/<vid>_000001.jpg", ...]}`` in frame order for the folders that exist."""
    frames_dir = Path(frames_dir)
    out = {}
    for vid in video_ids:
        d = frames_dir / vid
        if d.is_dir():
            out[vid] = [f"{vid}/{p.name}" for p in sorted(d.glob(f"{vid}_*.jpg"))]
    return out


def write_frame_lists(root: str | Path, split_videos: dict[str, list[str]]) -> dict[str, int]:
    """Write ``root/frame_lists/<split>.csv`` for each split's videos (from ``root/frames``); returns
    the frame count per split. Videos without frames raise :class:`InputFileError` naming the folder."""
    root = Path(root)
    (root / "frame_lists").mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, vids in split_videos.items():
        frames = scan_frames(root / "frames", vids)
        missing = [v for v in vids if not frames.get(v)]
        if missing:
            raise InputFileError(
                root / "frames" / missing[0],
                None,
                f"no frames for {len(missing)} video(s) of split {split!r}",
            )
        path = root / "frame_lists" / f"{split}.csv"
        atomic_write_text(path, format_frame_list(frames))
        counts[split] = sum(len(f) for f in frames.values())
    return counts
