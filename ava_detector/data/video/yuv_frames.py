"""Decoded video frames to RGB: whole frames, or only the region a training crop reads.

:func:`frame_to_rgb` converts one PyAV frame. Limited-range BT.601 YUV 4:2:0 (almost every H.264
file; what swscale assumes for untagged ones) is converted by OpenCV (``COLOR_YUV2RGB_I420``, the
same matrix and range as ``to_ndarray("rgb24")`` within a rounding level or two of chroma
interpolation, 2-3x faster); anything else (full range, BT.709-tagged, other formats) by swscale
with the frame's colour range.

:class:`YUVClip` is a clip of decoded frames that are converted when read. OpenCV's I420 conversion
gives each pixel from its own luma sample and the chroma sample of its 2x2 block, so the RGB of a
region is the conversion of the region's planes alone (widened to even rows and columns): a training
clip whose scale-crop keeps a third of the frame converts a third of its pixels (the same pixels).
"""

from __future__ import annotations

import av
import cv2
import numpy as np

__all__ = ["YUVClip", "frame_to_rgb", "i420_buffer"]

# FFmpeg colourspace codes swscale and OpenCV both convert with the BT.601 matrix.
_BT601 = {2, 5, 6}  # unspecified, BT470BG, SMPTE170M
_COLOR_RANGE_JPEG = 2


def _opencv_i420(frame: av.VideoFrame) -> bool:
    """Whether OpenCV converts ``frame`` as swscale would (limited-range BT.601 yuv420p, even size)."""
    return (
        frame.format.name == "yuv420p"
        and frame.color_range != _COLOR_RANGE_JPEG
        and frame.colorspace in _BT601
        and frame.width % 2 == 0
        and frame.height % 2 == 0
    )


def frame_to_rgb(frame: av.VideoFrame, out: np.ndarray | None = None) -> np.ndarray:
    """A decoded frame as uint8 ``(H, W, 3)`` RGB (OpenCV for limited-range BT.601 yuv420p,
    swscale with the frame's colour range otherwise).

    Args:
        frame: a PyAV video frame.
        out: where to write it (uint8 ``(H, W, 3)``, C-contiguous); a new array when None.
    """
    if _opencv_i420(frame):
        return cv2.cvtColor(i420_buffer(frame), cv2.COLOR_YUV2RGB_I420, dst=out)
    if frame.color_range == _COLOR_RANGE_JPEG or frame.format.name.startswith("yuvj"):
        rgb = frame.to_ndarray(format="rgb24", src_color_range="JPEG")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    if out is None:
        return rgb
    out[...] = rgb
    return out


def _planes(frame: av.VideoFrame) -> list[np.ndarray] | None:
    """The Y, U, V planes of a yuv420p frame as ``(rows, width)`` views of the decoder's buffers
    (no copy), or None for an unexpected plane layout."""
    h, w = frame.height, frame.width
    views = []
    for plane, (ph, pw) in zip(frame.planes, ((h, w), (h // 2, w // 2), (h // 2, w // 2))):
        src = np.frombuffer(memoryview(plane), np.uint8)
        line = plane.line_size
        if line < pw or src.size < ph * line:
            return None
        views.append(src[: ph * line].reshape(ph, line)[:, :pw])
    return views


def i420_buffer(
    frame: av.VideoFrame, y0: int = 0, x0: int = 0, h: int | None = None, w: int | None = None
) -> np.ndarray:
    """A yuv420p frame's planes (or the even-aligned region ``[y0, y0 + h) x [x0, x0 + w)`` of
    them) as one ``(h * 3 / 2, w)`` I420 array (what ``to_ndarray("yuv420p")`` returns for the whole
    frame), copied once from the decoder's planes.

    Args:
        frame: a yuv420p PyAV frame of even size.
        y0, x0: the region's corner (even).
        h, w: the region's size (even; default: to the frame's end).
    """
    h = frame.height - y0 if h is None else h
    w = frame.width - x0 if w is None else w
    planes = _planes(frame)
    if planes is None:  # an unexpected plane layout
        whole = frame.to_ndarray(format="yuv420p")
        fh = frame.height
        planes = [
            whole[:fh],
            whole[fh : fh * 5 // 4].reshape(fh // 2, -1),
            whole[fh * 5 // 4 :].reshape(fh // 2, -1),
        ]
    buf = np.empty((h * 3 // 2, w), dtype=np.uint8)
    flat = buf.reshape(-1)
    flat[: h * w].reshape(h, w)[...] = planes[0][y0 : y0 + h, x0 : x0 + w]
    ch, cw, cy, cx = h // 2, w // 2, y0 // 2, x0 // 2
    for k, start in ((1, h * w), (2, h * w + ch * cw)):
        flat[start : start + ch * cw].reshape(ch, cw)[...] = planes[k][cy : cy + ch, cx : cx + cw]
    return buf


class YUVClip:
    """A clip of decoded PyAV frames, converted to RGB when read: array-like ``(T, H, W, 3)``
    uint8 (``shape``, ``dtype``, ``clip[i]``, ``np.asarray(clip)``) plus :meth:`region`.

    Args:
        frames: the clip's frames in order (one frame may fill several places); all one size.
    """

    ndim = 4
    dtype = np.dtype(np.uint8)

    def __init__(self, frames: list[av.VideoFrame]):
        if not frames:
            raise ValueError("a clip needs at least one frame")
        self.frames = frames
        self.shape: tuple[int, int, int, int] = (
            len(frames),
            frames[0].height,
            frames[0].width,
            3,
        )
        self._rgb: dict[
            int, np.ndarray
        ] = {}  # id(frame) -> whole RGB (formats OpenCV does not take)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> np.ndarray:
        """Frame ``i`` as ``(H, W, 3)`` RGB."""
        return frame_to_rgb(self.frames[int(i)])

    def region(self, i: int, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """``clip[i][y0 : y0 + h, x0 : x0 + w]`` (clamped to the frame as slicing is), converting
        only that region (widened to even rows and columns) where OpenCV converts the frame.

        Args:
            i: the frame's place in the clip.
            y0, x0: the region's corner (>= 0).
            h, w: its size (> 0).
        """
        frame = self.frames[int(i)]
        _, fh, fw, _ = self.shape
        y1, x1 = min(y0 + h, fh), min(x0 + w, fw)
        if not _opencv_i420(frame):
            rgb = self._rgb.get(id(frame))
            if rgb is None:
                rgb = self._rgb.setdefault(id(frame), frame_to_rgb(frame))
            return rgb[y0:y1, x0:x1]
        ey0, ex0 = y0 - y0 % 2, x0 - x0 % 2
        ey1, ex1 = min(fh, y1 + y1 % 2), min(fw, x1 + x1 % 2)
        buf = i420_buffer(frame, ey0, ex0, ey1 - ey0, ex1 - ex0)
        rgb = cv2.cvtColor(buf, cv2.COLOR_YUV2RGB_I420)
        return rgb[y0 - ey0 : y1 - ey0, x0 - ex0 : x1 - ex0]

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        out = self.to_array()
        return out if dtype is None else out.astype(dtype, copy=False)

    def to_array(self) -> np.ndarray:
        """The whole clip, uint8 ``(T, H, W, 3)`` RGB (a frame in several places converted once)."""
        out = np.empty(self.shape, dtype=np.uint8)
        first: dict[int, int] = {}
        for k, frame in enumerate(self.frames):
            if id(frame) in first:
                out[k] = out[first[id(frame)]]
            else:
                frame_to_rgb(frame, out[k])
                first[id(frame)] = k
        return out
