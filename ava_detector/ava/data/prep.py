"""Real-AVA preparation: cut the movies to [900 s, 1801 s), extract frames at 30 fps, build frame lists.

The published numbers were produced from frames extracted with (PySlowFast's scripts)::

    ffmpeg -ss 900 -t 901 -i <movie> <cut>/<vid>.mp4
    ffmpeg -i <cut>/<vid>.mp4 -r 30 -q:v 1 <frames>/<vid>/<vid>_%06d.jpg

Different ffmpeg builds resample differently and users lose ~3 mAP to that, so the exact commands are
kept here (``ffmpeg_*_command``) and used when ``ffmpeg`` is on the PATH. Without it, a PyAV fallback
does the same deterministically: output frame ``j`` (time ``j / fps``) is the last decoded frame
whose time is ``< (j + 0.5) / fps`` - the nearest-frame rule of ffmpeg's ``-r`` - written as JPEG.

The cut can instead be encoded for training from the videos (``encoding``, a
:class:`~ava_detector.data.video.transcode.ClipEncoding`): the same 30 fps frames (resampled by the
same rule in the cut, so the frame extraction's ``-r 30`` keeps every frame), with key frames where
the clips around AVA's keyframes start and unreferenced B-frames between the sampled frames. Both
fallbacks stream the frames (a movie is never held in memory).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np

from ava_detector.ava.data.frame_lists import format_frame_list
from ava_detector.data.errors import InputFileError
from ava_detector.data.video.transcode import (
    ClipEncoding,
    ffmpeg_transcode_args,
    resample_nearest,
    transcode,
)
from ava_detector.utils.atomic_files import atomic_output, atomic_write_text, replace_folder

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
    encoding: ClipEncoding | None = None,
) -> list[str]:
    """The exact cut command (seconds [start, start + length)); ``gop``: frames between key frames
    of the re-encoded cut (None: the encoder's default, 250 for x264); ``encoding``: the training
    encoding's options instead (``gop`` is then ignored; no audio)."""
    if encoding is not None:
        keyint = [*ffmpeg_transcode_args(encoding), "-an"]
    else:
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
        "-f",
        "mp4",
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


def cut_video(
    src: str | Path,
    dst: str | Path,
    start: float = 900,
    length: float = 901,
    use_ffmpeg: bool | None = None,
    gop: int | None = None,
    encoding: ClipEncoding | None = None,
) -> Path:
    """Cut ``src`` to ``[start, start + length)`` s into ``dst`` (ffmpeg if available, else PyAV
    re-encode); ``dst`` appears only when complete.

    Args:
        src: the movie.
        dst: the cut video (``.mp4``).
        start: first second kept.
        length: seconds kept.
        use_ffmpeg: ffmpeg (None: where installed) or PyAV.
        gop: frames between key frames (None: the encoder's default). A clip read from the video
            decodes from the key frame before it, so short intervals make random access cheaper.
        encoding: the training encoding (overrides ``gop``): 30 fps, key frames where AVA's clips
            start, unreferenced B-frames; None: the source's frames at the encoder's defaults.
    """
    dst = Path(dst)
    if use_ffmpeg is None:
        use_ffmpeg = shutil.which("ffmpeg") is not None
    if not use_ffmpeg:
        return transcode(src, dst, encoding, start, length, gop=gop)
    with atomic_output(dst) as tmp:
        _run_ffmpeg(ffmpeg_cut_command(src, tmp, start, length, gop, encoding), src)
    return dst


def _run_ffmpeg(command: list[str], src: str | Path) -> None:
    """Run an ffmpeg command; a failure is an :class:`InputFileError` naming ``src`` with the end
    of ffmpeg's message (e.g. a build without libx264, a damaged movie)."""
    done = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise InputFileError(
            src, None, f"ffmpeg failed (exit {done.returncode}): {' / '.join(lines[-3:])}"
        )


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
    try:
        if use_ffmpeg:
            _run_ffmpeg(ffmpeg_frames_command(video, tmp, video_id, fps), video)
        else:
            _write_jpegs(video, tmp, video_id, fps, quality)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left
        raise
    replace_folder(tmp, out)
    return len(list(out.glob(f"{video_id}_*.jpg")))


def _write_jpegs(video: str | Path, out: Path, video_id: str, fps: float, quality: int) -> None:
    """The PyAV fallback of the frame extraction: decoded frames streamed through
    :func:`resample_nearest` (times from the stream's first frame), each written as it comes."""
    try:
        with av.open(str(video)) as c:
            if not c.streams.video:
                raise InputFileError(video, None, "file has no video stream")
            frames = _from_first_frame(_decoded_frames(c, video))
            j = 0
            for j, frame in enumerate(resample_nearest(frames, fps), start=1):
                path = out / f"{video_id}_{j:06d}.jpg"
                bgr = frame.to_ndarray(format="bgr24")
                if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                    raise OSError(f"cannot write {path}")
    except av.FFmpegError as e:
        raise InputFileError(video, None, f"cannot decode video: {e}") from None
    if j == 0:
        raise InputFileError(video, None, "video has no frames")


def _decoded_frames(
    container: av.container.InputContainer, path: str | Path
) -> Iterable[tuple[float, av.VideoFrame]]:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        if frame.pts is None or frame.time_base is None:
            raise InputFileError(path, None, "cannot decode video: a frame has no timestamp")
        yield float(frame.pts * frame.time_base), frame


def _from_first_frame(
    frames: Iterable[tuple[float, av.VideoFrame]],
) -> Iterable[tuple[float, av.VideoFrame]]:
    """Times from the first frame's, increasing (a repeated or earlier timestamp is dropped)."""
    first = last = None
    for t, frame in frames:
        if first is None:
            first = t
        t -= first
        if last is not None and t <= last:
            continue
        last = t
        yield t, frame


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
