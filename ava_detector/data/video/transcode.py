"""Re-encode a video so that a training clip decodes cheaply from a cold start.

A shuffled training loader reads each clip from a video it has not got open: it seeks to the key
frame before the clip and decodes every reference frame from there. With x264's defaults (a key
frame every 250 frames, B-frames that other frames refer to) that is ~100 decoded frames for a 32x2
clip; the :class:`ClipEncoding` of a video makes it the clip's own frames only:

- a constant ``fps`` (30: AVA's frame rate; frame ``j`` is the one ffmpeg's ``-r`` shows at
  ``j / fps``, the frames the frames source reads);
- a key frame every ``key_interval`` frames, placed where the clips centred on those intervals start
  (``clip_span`` frames = ``NUM_FRAMES x SAMPLING_RATE``, centred as PySlowFast samples: a clip of 64
  frames around frame ``c`` starts at ``c - 32``), so the seek lands on the clip's first frame;
- ``bframes`` B-frames between reference frames, none of them referred to (no B-pyramid, fixed
  placement, no scene-cut key frames): the video source does not decode the frames between a clip's
  sampled ones (``skip_frame = "NONREF"``);
- x264's ``fastdecode`` tuning (no CABAC, no deblocking filter): half the decoding time per frame at
  the same quality (crf) for ~15% more bytes.

Measured on the benchmark's 640x360 footage (``tools/benchmark.py data``, the ``video, AVA cut``
row) the shuffled 32x2 clip costs a quarter of what it costs from x264's default encoding.

:func:`transcode` does it with PyAV (frames streamed, never a whole video in memory);
:func:`ffmpeg_transcode_args` gives the same settings as ffmpeg options.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import av.video.frame

from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_output

__all__ = ["ClipEncoding", "ffmpeg_transcode_args", "resample_nearest", "transcode"]

_F = TypeVar("_F")


@dataclass(frozen=True)
class ClipEncoding:
    """x264 settings for cheap random access to training clips (see the module's docstring).

    Args:
        fps: the output's constant frame rate.
        key_interval: frames between key frames (30 at 30 fps: one per second, AVA's keyframes).
        clip_span: frames a training clip spans (``NUM_FRAMES x SAMPLING_RATE``; 64 for AVA's 32x2,
            16x4 and 8x8 models); key frames sit at ``-clip_span // 2`` modulo ``key_interval``
            (0: at multiples of ``key_interval``).
        bframes: unreferenced B-frames between reference frames (frames at multiples of
            ``bframes + 1`` after a key frame are references).
        crf: x264's constant rate factor (lower: better quality, larger files).
        fast_decode: x264's ``fastdecode`` tuning.
    """

    fps: float = 30.0
    key_interval: int = 30
    clip_span: int = 64
    bframes: int = 3
    crf: int = 18
    fast_decode: bool = True

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.key_interval < 1 or self.clip_span < 0 or self.bframes < 0:
            raise ValueError(
                f"key_interval >= 1, clip_span >= 0 and bframes >= 0 are needed, got "
                f"{self.key_interval}, {self.clip_span}, {self.bframes}"
            )

    @property
    def key_offset(self) -> int:
        """The output frames ``n`` with ``n % key_interval == key_offset`` (and frame 0) are key
        frames: where a clip of ``clip_span`` frames centred on a multiple of ``key_interval``
        starts."""
        return (-(self.clip_span // 2)) % self.key_interval

    def is_key(self, n: int) -> bool:
        """Whether output frame ``n`` is forced to be a key frame."""
        return n == 0 or n % self.key_interval == self.key_offset

    def x264_params(self) -> str:
        """The ``x264-params`` string (key frames only where forced or every ``key_interval``)."""
        k = self.key_interval
        return (
            f"keyint={k}:min-keyint={k}:scenecut=0:bframes={self.bframes}:b-adapt=0:b-pyramid=none"
        )

    def codec_options(self) -> dict[str, str]:
        """libx264's options as PyAV and ffmpeg take them."""
        options = {"crf": str(self.crf), "x264-params": self.x264_params()}
        if self.fast_decode:
            options["tune"] = "fastdecode"
        return options


def ffmpeg_transcode_args(encoding: ClipEncoding) -> list[str]:
    """The ffmpeg output options of ``encoding`` (after ``-i <src>``, before the output file)."""
    args = ["-r", f"{encoding.fps:g}", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    for key, value in encoding.codec_options().items():
        args += [f"-{key}", value]
    # n counts output frames from 0; frame 0 is a key frame anyway
    shift = (encoding.key_interval - encoding.key_offset) % encoding.key_interval
    return args + ["-force_key_frames", f"expr:eq(mod(n+{shift},{encoding.key_interval}),0)"]


def resample_nearest(
    frames: Iterable[tuple[float, _F]], fps: float, num_out: int | None = None
) -> Iterator[_F]:
    """Frames at a constant rate from frames at their own times, by ffmpeg's ``-r`` rule: output
    frame ``j`` shows the last input frame whose time is before ``(j + 0.5) / fps`` (the first one
    if none is). Streams: holds one input frame.

    Args:
        frames: ``(time, frame)`` in increasing time, seconds from the output's time 0.
        fps: the output rate.
        num_out: the most output frames (None: up to the end of the last input frame, which lasts
            until the next would start at the inputs' mean rate).

    Yields:
        The input frame each output frame shows, in order (an input frame may repeat or be left
        out).
    """
    j = 0
    prev: _F | None = None
    first_t = last_t = None
    count = 0
    for t, frame in frames:
        while (j + 0.5) / fps <= t and (num_out is None or j < num_out):
            yield prev if prev is not None else frame
            j += 1
        if num_out is not None and j >= num_out:
            return
        prev = frame
        count += 1
        first_t = t if first_t is None else first_t
        last_t = t
    if prev is None or first_t is None or last_t is None:
        return
    duration = (last_t - first_t) / (count - 1) if count > 1 else 1.0 / fps
    end = int(round((last_t + duration) * fps))
    if num_out is not None:
        end = min(end, num_out)
    while j < end:
        yield prev
        j += 1


def _decoded_from(
    container: av.container.InputContainer, path: str | Path, start: float
) -> Iterator[tuple[float, av.VideoFrame]]:
    """``(seconds from start, frame)`` of the first video stream from ``start`` on (seeking to the
    key frame before it; earlier frames dropped)."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # a one-off pass over the video: wall time matters here
    tb = stream.time_base
    if tb is None:
        raise InputFileError(path, None, "video stream has no time base")
    origin = stream.start_time or 0
    if start > 0:
        container.seek(origin + int(math.floor(start / tb)), stream=stream, backward=True)
    last = -math.inf
    for frame in container.decode(stream):
        if frame.pts is None:
            raise InputFileError(path, None, "cannot decode video: a frame has no timestamp")
        t = float((frame.pts - origin) * tb) - start
        if t < 0 or t <= last:  # before the cut, or a duplicate timestamp
            continue
        last = t
        yield t, frame


def transcode(
    src: str | Path,
    dst: str | Path,
    encoding: ClipEncoding | None,
    start: float = 0.0,
    length: float | None = None,
    *,
    gop: int | None = None,
) -> Path:
    """Re-encode ``src``'s first video stream (seconds ``[start, start + length)``) into the mp4
    ``dst`` with ``encoding``; ``dst`` appears only when complete. Audio is not copied.

    Args:
        src: the input video.
        dst: the output file (written as mp4 whatever its extension).
        encoding: the settings (:class:`ClipEncoding`); None: the source's frames at their own
            times, x264's defaults at crf 17 (with ``gop``: frames between key frames at most).
        start: the first second kept (the output's time 0).
        length: seconds kept (None: to the end).
        gop: with ``encoding`` None, x264's largest key frame interval.

    Returns:
        ``dst``.

    Raises:
        InputFileError: ``src`` cannot be opened or decoded, or has no frames in the range.
    """
    dst = Path(dst)
    try:
        with av.open(str(src)) as container, atomic_output(dst) as tmp:
            if not container.streams.video:
                raise InputFileError(src, None, "file has no video stream")
            in_stream = container.streams.video[0]
            if encoding is not None:
                rate = Fraction(encoding.fps)
                options = encoding.codec_options()
            else:
                rate = Fraction(in_stream.average_rate or in_stream.guessed_rate or 30)
                options = {"crf": "17", **({"g": str(int(gop))} if gop else {})}
            frames: Iterable[tuple[float, av.VideoFrame]] = _decoded_from(container, src, start)
            if encoding is None and length is not None:
                frames = ((t, f) for t, f in frames if t < length)
            written = _encode(frames, tmp, encoding, rate.limit_denominator(1001), options, length)
            if not written:
                raise InputFileError(src, None, f"no frames from {start:g} s on")
    except av.FFmpegError as e:
        raise InputFileError(src, None, f"cannot transcode video: {e}") from e
    return dst


def _encode(
    frames: Iterable[tuple[float, av.VideoFrame]],
    out_path: Path,
    encoding: ClipEncoding | None,
    rate: Fraction,
    options: dict[str, str],
    length: float | None,
) -> int:
    """Encode ``frames`` into ``out_path`` (at their times with ``encoding`` None, else resampled
    to its rate); returns how many frames were written."""
    picture = av.video.frame.PictureType
    with av.open(str(out_path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = dict(options)
        if encoding is None:
            timed: Iterable[tuple[float | None, av.VideoFrame]] = frames
            stream.codec_context.time_base = Fraction(1, 90000)
        else:
            num_out = None if length is None else int(round(length * encoding.fps))
            timed = ((None, f) for f in resample_nearest(frames, encoding.fps, num_out))
        n = 0
        for t, frame in timed:
            if n == 0:  # 4:2:0 needs even sizes: an odd one is scaled down by a pixel
                stream.width, stream.height = frame.width // 2 * 2, frame.height // 2 * 2
            if (frame.format.name, frame.width, frame.height) != (
                "yuv420p",
                stream.width,
                stream.height,
            ):
                frame = frame.reformat(stream.width, stream.height, "yuv420p")
            if t is None:
                frame.pts, frame.time_base = n, Fraction(1) / rate
            else:
                frame.pts, frame.time_base = int(round(t * 90000)), Fraction(1, 90000)
            # the decoder's picture types would otherwise force the encoder's (libx264 obeys them)
            forced = encoding is not None and encoding.is_key(n)
            frame.pict_type = picture.I if forced else picture.NONE
            out.mux(stream.encode(frame))
            n += 1
        if n:
            out.mux(stream.encode())
    return n
