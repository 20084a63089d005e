"""Short-side resizing of whole clips with OpenCV, as PySlowFast resizes AVA clips.

:class:`ClipResizeTransform` is a Detectron2 ``Transform`` that resizes every frame of a ``(T, H, W, C)``
clip (or one ``(H, W, C)`` image) with ``cv2.resize`` (bilinear, ``INTER_LINEAR``: half-pixel centres,
no antialiasing) and scales boxes with it. Detectron2's own ``ResizeTransform`` goes through PIL, whose
bilinear filter widens with the scale factor (antialiasing): different pixels and ~25x slower on
640x360 frames. :func:`short_side_output_shape` is PySlowFast's output-size rule: the short side becomes
``size`` and the long side ``floor(long / short * size)``; a frame whose short side already is ``size``
is left as it is.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from detectron2.data.transforms import Transform

__all__ = ["ClipResizeTransform", "short_side_output_shape"]


def short_side_output_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """``(new_height, new_width)`` with the short side ``size`` and the long side
    ``floor(long / short * size)`` (PySlowFast's rule; a square frame becomes ``size x size``).

    Args:
        height, width: the frame's size in pixels.
        size: the target short side in pixels.

    Example: 360x640 -> 256 gives (256, 455); 300x400 -> 284 gives (284, 378) (378.67 rounded down).
    """
    if size <= 0 or height <= 0 or width <= 0:
        raise ValueError(f"sizes must be positive, got {height}x{width} -> {size}")
    if width < height:
        return int(math.floor(float(height) / width * size)), int(size)
    if height < width:
        return int(size), int(math.floor(float(width) / height * size))
    return int(size), int(size)


class ClipResizeTransform(Transform):
    """Resize every frame of a clip from ``h x w`` to ``new_h x new_w`` with ``cv2.resize``.

    Args:
        h, w: the input frames' size.
        new_h, new_w: the output frames' size.
        interp: an OpenCV interpolation flag (default ``cv2.INTER_LINEAR``, PySlowFast's).
    """

    def __init__(self, h: int, w: int, new_h: int, new_w: int, interp: int = cv2.INTER_LINEAR):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray, interp: int | None = None) -> np.ndarray:
        """Resize a ``(H, W, C)`` image, a ``(H, W)`` plane or a ``(T, H, W, C)`` clip (any dtype
        OpenCV takes: uint8, float32, ...); returns the same layout at ``new_h x new_w``. A clip of 3
        channels comes back as a ``(T, H, W, 3)`` view of channel-first ``(3, T, H, W)`` storage
        (``out.transpose(3, 0, 1, 2)`` is contiguous).

        Args:
            img: the image or clip; its ``H, W`` must be ``h, w``.
            interp: overrides the transform's interpolation flag.
        """
        clip = img.ndim == 4
        hw = img.shape[1:3] if clip else img.shape[:2]
        if tuple(hw) != (self.h, self.w):
            raise ValueError(f"expected frames of {self.h}x{self.w}, got shape {img.shape}")
        if (self.new_h, self.new_w) == (self.h, self.w):
            return img
        flag = self.interp if interp is None else interp
        dsize = (int(self.new_w), int(self.new_h))
        if not clip:
            out = cv2.resize(np.ascontiguousarray(img), dsize, interpolation=flag)
            return out[..., None] if img.ndim == 3 and out.ndim == 2 else out
        if img.shape[3:] == (3,):
            # Channel-first storage, returned as a (T, H, W, 3) view: cv2.split writes the resized
            # frame's planes where they go, so the (3, T, H, W) tensor the model takes needs no
            # transposing copy afterwards (a third of the cost of resize + transpose).
            planes = np.empty((3, img.shape[0], self.new_h, self.new_w), dtype=img.dtype)
            tmp = np.empty((self.new_h, self.new_w, 3), dtype=img.dtype)
            for t in range(img.shape[0]):
                cv2.resize(np.ascontiguousarray(img[t]), dsize, dst=tmp, interpolation=flag)
                cv2.split(tmp, [planes[0, t], planes[1, t], planes[2, t]])
            return planes.transpose(1, 2, 3, 0)
        out = np.empty((img.shape[0], self.new_h, self.new_w) + img.shape[3:], dtype=img.dtype)
        for t in range(img.shape[0]):
            frame = np.ascontiguousarray(img[t])
            if frame.ndim == 3 and frame.shape[2] == 1:  # OpenCV drops a single channel axis
                out[t, ..., 0] = cv2.resize(frame, dsize, interpolation=flag)
            else:
                cv2.resize(frame, dsize, dst=out[t], interpolation=flag)
        return out

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        """Scale ``(N, 2)`` absolute ``x, y`` coordinates by ``new_w / w`` and ``new_h / h``."""
        coords[:, 0] = coords[:, 0] * (self.new_w * 1.0 / self.w)
        coords[:, 1] = coords[:, 1] * (self.new_h * 1.0 / self.h)
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        """Label maps are resized with nearest-neighbour interpolation."""
        return self.apply_image(segmentation, interp=cv2.INTER_NEAREST)

    def inverse(self) -> Transform:
        return ClipResizeTransform(self.new_h, self.new_w, self.h, self.w, self.interp)
