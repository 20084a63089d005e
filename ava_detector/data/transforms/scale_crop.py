"""Scale and crop in one step, resizing only the pixels the crop keeps.

The training recipe scales each frame (short side jittered) and keeps a random square window of the
scaled frame. Resizing the whole frame to keep a third of it spends most of the resize on pixels that
are thrown away. :class:`ClipScaleCropTransform` puts the window's top-left corner on a *source*
pixel ``(x0, y0)``; the window then is ``cv2.resize`` of the source region under it with the scale
factors of the whole-frame resize (``fx = new_w / w``, ``fy = new_h / h``: OpenCV's sampling grid
``src = (dst + 0.5) / f - 0.5`` from the region's corner, the same bilinear weights), i.e. the
window of the whole scaled frame at the fractional offset ``(x0 * new_w / w, y0 * new_h / h)``.
Where that offset is a whole pixel the window equals ``cv2.resize`` of the frame followed by the crop;
elsewhere OpenCV's float rounding of the coordinates can put a weight one fixed-point step apart
(at most 1 grey level, on a few pixels in 10^4).

Only downscaling (``new_h <= h`` and ``new_w <= w``) is taken: there every output pixel samples inside
the region. An upscaled window's first row and column would sample left of the corner, which the
region does not hold.
"""

from __future__ import annotations

import cv2
import numpy as np
from detectron2.data.transforms import Transform

__all__ = ["ClipScaleCropTransform", "region_size"]


def region_size(crop: int, size: int, new_size: int) -> int:
    """Source pixels along one axis that a ``crop``-pixel window of a ``size``-pixel axis scaled to
    ``new_size`` samples, ``ceil(crop * size / new_size)``, with a margin of two so that OpenCV's
    clamping at the region's far end never reaches the window (it only does at the frame's own
    border, as for the whole frame).

    Args:
        crop: the window's size in output pixels.
        size, new_size: the axis before and after scaling.
    """
    return -(-crop * size // new_size) + 2


class ClipScaleCropTransform(Transform):
    """Scale ``h x w`` frames to ``new_h x new_w`` and keep the ``crop_h x crop_w`` window whose
    top-left corner is source pixel ``(x0, y0)``, resizing only the source region under the window.

    Args:
        h, w: the input frames' size.
        new_h, new_w: the scaled frame's size (at most ``h``, ``w``).
        x0, y0: the window's corner, in source pixels.
        crop_w, crop_h: the window's size, in output pixels; it must fit in the scaled frame:
            ``x0 * new_w / w + crop_w <= new_w`` (and the same for ``y``).
    """

    def __init__(
        self, h: int, w: int, new_h: int, new_w: int, x0: int, y0: int, crop_w: int, crop_h: int
    ):
        super().__init__()
        if not (0 < new_h <= h and 0 < new_w <= w):
            raise ValueError(f"a scale-crop only downscales; got {h}x{w} -> {new_h}x{new_w}")
        # the window must fit: x0 * new_w / w + crop_w <= new_w, in exact integer arithmetic
        if not (
            0 < crop_w
            and 0 < crop_h
            and 0 <= x0
            and 0 <= y0
            and x0 * new_w + crop_w * w <= new_w * w
            and y0 * new_h + crop_h * h <= new_h * h
        ):
            raise ValueError(
                f"a {crop_h}x{crop_w} window at source ({x0}, {y0}) does not fit a {h}x{w} frame "
                f"scaled to {new_h}x{new_w}"
            )
        self._set_attributes(locals())

    @property
    def factors(self) -> tuple[float, float]:
        """``(fy, fx)``: output pixels per source pixel, as ``cv2.resize`` takes them."""
        return self.new_h / self.h, self.new_w / self.w

    def region_box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, h, w)`` of the source region the window samples (it may run past the
        frame's far edges; slicing clamps it)."""
        rh = region_size(self.crop_h, self.h, self.new_h)
        rw = region_size(self.crop_w, self.w, self.new_w)
        return int(self.y0), int(self.x0), rh, rw

    def region(self, img: np.ndarray) -> np.ndarray:
        """The source region the window samples, a view of a ``(H, W, ...)`` frame."""
        y0, x0, rh, rw = self.region_box()
        return img[y0 : y0 + rh, x0 : x0 + rw]

    def scale_region(self, frame: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """``cv2.resize`` of the region of one ``(H, W, C)`` or ``(H, W)`` frame with the whole
        frame's factors: at least ``crop_h x crop_w``; the window is its top-left corner.

        Args:
            frame: the source frame.
            dst: where to write it (the shape a previous call returned), or None.
        """
        return self.resize_region(self.region(frame), dst)

    def resize_region(self, region: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
        """:meth:`scale_region` of a region already cut out (:meth:`region`, or the same pixels
        from elsewhere, e.g. converted from a video frame's planes).

        Args:
            region: the region's pixels, ``(h, w, C)`` or ``(h, w)``.
            dst: where to write it (the shape a previous call returned), or None.
        """
        fy, fx = self.factors
        out = cv2.resize(region, None, dst=dst, fx=fx, fy=fy, interpolation=cv2.INTER_LINEAR)
        if out.shape[0] < self.crop_h or out.shape[1] < self.crop_w:  # cannot happen: region_size
            raise RuntimeError(f"scaled region {out.shape} smaller than the window {self}")
        return out

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        """The window of a ``(H, W, C)`` image, a ``(H, W)`` plane or a ``(T, H, W, C)`` clip (same
        layout at ``crop_h x crop_w``).

        Args:
            img: the image or clip; its ``H, W`` must be ``h, w``.
        """
        clip = img.ndim == 4
        hw = img.shape[1:3] if clip else img.shape[:2]
        if tuple(hw) != (self.h, self.w):
            raise ValueError(f"expected frames of {self.h}x{self.w}, got shape {img.shape}")
        ch, cw = self.crop_h, self.crop_w
        if not clip:
            out = self.scale_region(img)[:ch, :cw]
            if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
                out = out[..., None]
            return np.ascontiguousarray(out)
        return np.stack([self.apply_image(frame) for frame in img])

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        """``(N, 2)`` absolute ``x, y``: ``(x - x0) * new_w / w`` and ``(y - y0) * new_h / h``."""
        fy, fx = self.factors
        coords[:, 0] = (coords[:, 0] - self.x0) * fx
        coords[:, 1] = (coords[:, 1] - self.y0) * fy
        return coords
