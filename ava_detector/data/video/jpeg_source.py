"""JPEG frame folders (PySlowFast layout: ``frames/<vid>/<vid>_%06d.jpg`` listed by a frame list).

A clip is decoded straight into one preallocated ``(T, H, W, 3)`` array by libjpeg-turbo: through
simplejpeg where it is installed (RGB written in place; the same pixels as OpenCV, ~12% less CPU a
frame), else OpenCV's decoder, whose BGR -> RGB swap writes into the clip (no stacking copy). JPEGs
with Exif data go through OpenCV (which applies their orientation). A JPEG that
does not end with the end-of-image marker is reported as truncated instead of being decoded with a
grey lower part, as libjpeg would.

Reduced-size decoding (``min_short_side``): libjpeg-turbo can decode at 1/2, 1/4 or 1/8 of the size
by scaling in the DCT domain (``cv2.IMREAD_REDUCED_COLOR_*``), much cheaper than decoding everything
and downscaling afterwards. The source uses the largest reduction whose frames keep a short side of at
least ``min_short_side`` (the largest size the transforms will scale to), so a 720p frame set feeding
256-320 px clips decodes at 640x360. Pixels differ slightly from full decoding + resizing (mean
absolute difference ~0.5 grey levels), hence opt-in: ``INPUT.JPEG_REDUCED_DECODE``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.frame_source import (
    FrameSource,
    register_frame_source,
)
from ava_detector.data.video.sampling import (
    clip_indices,
    frame_at_times,
)

try:  # libjpeg-turbo straight to RGB into the clip's memory: same pixels, ~12% less CPU a frame
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - optional
    _simplejpeg = None

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
# Bytes some writers append after the end-of-image marker (zero padding, a trailing newline).
_JPEG_PADDING = b"\x00\xff\r\n\t "
_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def jpeg_is_truncated(data: bytes) -> bool:
    """True when ``data`` starts like a JPEG but does not end with the EOI marker ``FF D9`` (only
    padding bytes may follow it). Cheap: it looks at the last few KB only.

    Args:
        data: the whole file's bytes.
    """
    if not data.startswith(_JPEG_SOI):
        return False
    return not data[-4096:].rstrip(_JPEG_PADDING).endswith(_JPEG_EOI)


def _jpeg_header(data: bytes) -> tuple[int, int, bool] | None:
    """``(height, width, has_exif)`` from a JPEG's headers (SOFn marker; an APP1 Exif segment may
    rotate the picture in OpenCV), None if there is no frame header before the image data."""
    if not data.startswith(_JPEG_SOI):
        return None
    pos, exif = 2, False
    while pos + 9 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xE1 and data[pos + 4 : pos + 8] == b"Exif":
            exif = True
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = (
                int.from_bytes(data[pos + 5 : pos + 7], "big"),
                int.from_bytes(data[pos + 7 : pos + 9], "big"),
            )
            return h, w, exif
        if marker == 0xDA:  # start of scan: no frame header before the image data
            return None
        pos += 2 + length
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` from a JPEG's frame header (SOFn marker), None if there is none.

    Args:
        data: the file's bytes (only the headers before the image data are read).
    """
    header = _jpeg_header(data)
    return None if header is None else header[:2]


def read_file_bytes(path: str) -> bytes:
    """The bytes of a frame file; :class:`InputFileError` naming it when missing or unreadable."""
    try:
        with open(path, "rb", buffering=0) as f:
            return f.read()
    except FileNotFoundError:
        raise InputFileError(path, None, "frame file is missing") from None
    except OSError as e:
        raise InputFileError(path, None, f"frame file cannot be read: {e}") from e


def decode_bgr(path: str, reduce: int = 1, min_short_side: int | None = None) -> np.ndarray:
    """One image file as uint8 ``(H / reduce, W / reduce, 3)`` BGR (OpenCV's order).

    Args:
        path: the image file (JPEG, or anything OpenCV decodes).
        reduce: 1, 2, 4 or 8: decode at that fraction of the size (JPEG DCT scaling; other formats
            are decoded then downscaled by OpenCV).
        min_short_side: instead of ``reduce``: the largest reduction that keeps this short side
            (:func:`reduction_for` on the JPEG header's size).

    Raises:
        InputFileError: naming the file when it is missing, truncated (a JPEG without its
            end-of-image marker) or cannot be decoded.
    """
    data = read_file_bytes(path)
    if min_short_side:
        size = jpeg_size(data)
        reduce = reduction_for(size[0], size[1], min_short_side) if size else 1
    check_complete(path, data)
    return _imdecode(path, data, reduce)


def check_complete(path: str, data: bytes) -> None:
    """:class:`InputFileError` naming ``path`` if ``data`` is a truncated JPEG."""
    if jpeg_is_truncated(data):
        raise InputFileError(path, None, "truncated JPEG (no end-of-image marker FF D9 at the end)")


def _imdecode(path: str, data: bytes, reduce: int) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[reduce])
    if bgr is None:
        raise InputFileError(path, None, "frame file cannot be decoded (corrupt or not an image)")
    return bgr


def read_rgb(path: str, reduce: int = 1) -> np.ndarray:
    """One image file as uint8 ``(H, W, 3)`` RGB (``reduce`` as :func:`decode_bgr`);
    :class:`InputFileError` naming it if missing, truncated or corrupt."""
    return cv2.cvtColor(decode_bgr(path, reduce), cv2.COLOR_BGR2RGB)


def _decode_rgb_into(data: bytes, dst: np.ndarray) -> bool:
    """Decode a JPEG into ``dst`` (uint8 ``(H, W, 3)``, C-contiguous) as RGB with simplejpeg;
    False when it declines (an unusual JPEG: OpenCV then decodes it)."""
    try:
        _simplejpeg.decode_jpeg(data, "RGB", buffer=dst, strict=False)
    except (ValueError, RuntimeError):
        return False
    return True


def reduction_for(height: int, width: int, min_short_side: int | None) -> int:
    """The largest factor in (1, 2, 4, 8) that keeps ``min(height, width) / factor >= min_short_side``
    (1 when ``min_short_side`` is None)."""
    if not min_short_side:
        return 1
    short = min(height, width)
    for factor in (8, 4, 2):
        if short // factor >= min_short_side:
            return factor
    return 1


class JpegFrameSource(FrameSource):
    """Frames given as image paths in timeline order, ``fps`` frames per second from time 0.

    Args:
        frames: the paths, any sequence of ``str`` (``len`` and indexing only).
        fps: the timeline's frame rate.
        min_short_side: with a value, decode JPEGs at a reduced size that keeps at least this short
            side (see the module's docstring); None decodes at full size.
    """

    def __init__(self, frames: Sequence[str], fps: float, min_short_side: int | None = None):
        if len(frames) == 0:
            raise InputFileError("<frame list>", None, "a video with no frames")
        self.frames = frames
        self.fps = float(fps)
        self.path = str(frames[0])
        self.min_short_side = min_short_side

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps

    def read_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at these 0-based timeline indices (each distinct file decoded once).

        Args:
            indices: ``(T,)`` frame indices in ``[0, len(frames))``.

        Returns:
            uint8 ``(T, H, W, 3)`` RGB.
        """
        indices = [int(i) for i in indices]
        out: np.ndarray | None = None
        first: dict[int, int] = {}  # frame index -> its first position in the clip
        for pos, i in enumerate(indices):
            if i in first:
                assert out is not None  # set before any index is recorded in first
                out[pos] = out[first[i]]
                continue
            if not 0 <= i < len(self.frames):
                raise IndexError(f"frame index {i} outside [0, {len(self.frames)})")
            path = str(self.frames[i])
            data = read_file_bytes(path)
            check_complete(path, data)
            header = _jpeg_header(data)
            reduce = 1
            if header is not None and self.min_short_side:
                reduce = reduction_for(header[0], header[1], self.min_short_side)
            direct = (
                _simplejpeg is not None and header is not None and reduce == 1 and not header[2]
            )
            if out is None and direct:
                assert header is not None
                out = np.empty((len(indices), header[0], header[1], 3), dtype=np.uint8)
            if not (
                direct
                and header is not None
                and out is not None
                and header[:2] == out.shape[1:3]
                and _decode_rgb_into(data, out[pos])
            ):
                bgr = _imdecode(path, data, reduce)
                if out is None:
                    out = np.empty((len(indices),) + bgr.shape, dtype=np.uint8)
                elif bgr.shape != out.shape[1:]:
                    raise InputFileError(
                        path,
                        None,
                        f"frames of one video differ in size: {bgr.shape[:2]} and "
                        f"{out.shape[1:3]} ({self.path})",
                    )
                cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=out[pos])
            first[i] = pos
        if out is None:
            raise ValueError("read_indices needs at least one index")
        return out

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
        return self.read_indices(
            clip_indices(center, num_frames, int(round(step)), len(self.frames))
        )


@register_frame_source("frames")
def build_jpeg_source(record: dict, min_short_side: int | None = None) -> JpegFrameSource:
    """The record's ``frames`` (a sequence of paths) at its ``fps``.

    Args:
        record: a dataset record with ``frames`` and ``fps``.
        min_short_side: see :class:`JpegFrameSource` (reduced-size JPEG decoding when set).
    """
    return JpegFrameSource(record_frames(record), record["fps"], min_short_side=min_short_side)


def record_frames(record: dict) -> Sequence[str]:
    """A record's ``frames`` (its frame paths in timeline order); :class:`InputFileError` naming
    the video when it has none.

    Args:
        record: a dataset record.
    """
    frames = record.get("frames")
    if frames is None or len(frames) == 0:
        raise InputFileError(
            record.get("video_id", "<record>"),
            None,
            "INPUT.SOURCE='frames' but the record has no frame list",
        )
    return frames
