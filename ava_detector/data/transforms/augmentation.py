"""Clip augmentations of the SlowFast recipe, as Detectron2 ``Augmentation`` objects.

Train: short side jittered inverse-uniformly in ``INPUT.TRAIN_JITTER_SCALES``, random square crop of
``INPUT.TRAIN_CROP_SIZE``, horizontal flip p=0.5, optional colour jitter. Test: short side
``INPUT.TEST_SHORT_SIDE``, whole frame. Every frame of a clip gets the same transform. Resizing is
PySlowFast's: ``cv2.resize`` bilinear and its output-size rule (:mod:`.resize`).

``INPUT.TRAIN_CROP_GRID`` says where the crop's corner lies: ``"source"`` (the default), on a pixel of
the frame before scaling, so that only the window is resized (:mod:`.scale_crop`); ``"resized"``, on a
pixel of the scaled frame, PySlowFast's order (scale the whole frame, then crop). Both draw the same
random numbers; their windows differ by less than one output pixel of offset.
"""

from __future__ import annotations

import numpy as np
from detectron2.config import CfgNode
from detectron2.data.transforms import (
    Augmentation,
    BlendTransform,
    CropTransform,
    NoOpTransform,
    RandomCrop,
    RandomFlip,
    Transform,
    TransformList,
)

from ava_detector.data.transforms.resize import (
    ClipResizeTransform,
    short_side_output_shape,
)
from ava_detector.data.transforms.scale_crop import ClipScaleCropTransform

#: the values of ``INPUT.TRAIN_CROP_GRID``
CROP_GRIDS = ("source", "resized")

# ITU-R 601 luma weights, as PySlowFast's grayscale for colour jitter.
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def short_side_resize(height: int, width: int, size: int) -> Transform:
    """The transform that brings a ``height x width`` frame's short side to ``size`` (PySlowFast's
    output size, see :func:`short_side_output_shape`); a no-op when it already is ``size``."""
    if min(height, width) == size:
        return NoOpTransform()
    new_h, new_w = short_side_output_shape(height, width, size)
    return ClipResizeTransform(height, width, new_h, new_w)


class ShortSideScale(Augmentation):
    """Resize so the short side is ``size`` (the test-time resize; whole frame kept).

    Args:
        size: the short side in pixels.
    """

    def __init__(self, size: int):
        super().__init__()
        if size <= 0:
            raise ValueError(f"need a positive short side, got {size}")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        """Args: image: ``(H, W, C)``, the clip's first frame."""
        return short_side_resize(image.shape[0], image.shape[1], self.size)


def _jittered_short_side(min_size: int, max_size: int) -> int:
    """One draw of PySlowFast's inverse-uniform short side (one ``np.random.uniform`` call)."""
    return int(round(1.0 / np.random.uniform(1.0 / max_size, 1.0 / min_size)))


class RandomShortSideScale(Augmentation):
    """Resize so the short side is ``round(1 / U(1/max_size, 1/min_size))`` (PySlowFast's
    inverse-uniform jitter: smaller scales are sampled more often than with a uniform draw).

    Args:
        min_size, max_size: the range of the short side in pixels.
    """

    def __init__(self, min_size: int, max_size: int):
        super().__init__()
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        """Args: image: ``(H, W, C)``, the clip's first frame."""
        size = _jittered_short_side(self.min_size, self.max_size)
        return short_side_resize(image.shape[0], image.shape[1], size)


class RandomScaleCrop(Augmentation):
    """:class:`RandomShortSideScale` followed by Detectron2's ``RandomCrop("absolute", (crop,
    crop))``, drawing the same numbers in the same order (the short side, then the crop's row and
    column offsets in the scaled frame), with the crop's corner moved up and left onto the source
    pixel at or before it: ``x0 = floor(w0 * w / new_w)``. The result is a
    :class:`~.scale_crop.ClipScaleCropTransform`, which resizes only the window. Where the frame is
    upscaled (or not scaled) it is the resize and the crop unchanged.

    Args:
        min_size, max_size: the range of the short side in pixels.
        crop: the square window's side in pixels (at most the scaled frame's, as ``RandomCrop``).
    """

    def __init__(self, min_size: int, max_size: int, crop: int):
        super().__init__()
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        if crop <= 0:
            raise ValueError(f"need a positive crop size, got {crop}")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        """Args: image: ``(H, W, C)``, the clip's first frame."""
        h, w = image.shape[:2]
        size = _jittered_short_side(self.min_size, self.max_size)
        new_h, new_w = (h, w) if min(h, w) == size else short_side_output_shape(h, w, size)
        crop_h, crop_w = min(self.crop, new_h), min(self.crop, new_w)
        h0 = np.random.randint(new_h - crop_h + 1)  # RandomCrop's draws, in its order
        w0 = np.random.randint(new_w - crop_w + 1)
        if (new_h, new_w) != (h, w) and new_h <= h and new_w <= w:
            x0, y0 = (w0 * w) // new_w, (h0 * h) // new_h
            return ClipScaleCropTransform(h, w, new_h, new_w, x0, y0, crop_w, crop_h)
        resize = short_side_resize(h, w, size)
        return TransformList([resize, CropTransform(w0, h0, crop_w, crop_h)])


class RandomClipColorJitter(Augmentation):
    """Brightness, contrast and saturation jitter (factors ``1 + U(-s, s)``) in random order, the
    same factors for every frame; contrast blends with each frame's mean gray, saturation with each
    pixel's gray (PySlowFast's colour jitter)."""

    input_args = ("clip",)

    def __init__(self, strength: float):
        super().__init__()
        self._init(locals())

    def get_transform(self, clip: np.ndarray) -> TransformList:
        tfms = []
        current = clip.astype(np.float32)  # the clip as the next blend will see it
        for kind in np.random.permutation(3):
            alpha = 1.0 + np.random.uniform(-self.strength, self.strength)
            gray = current @ _GRAY
            if kind == 0:
                src: np.ndarray | np.floating = np.float32(0.0)
            elif kind == 1:
                src = gray.mean(axis=(1, 2), keepdims=True)[..., None]
            else:
                src = gray[..., None]
            tfm = BlendTransform(src_image=src, src_weight=1.0 - alpha, dst_weight=alpha)
            tfms.append(tfm)
            current = np.clip(tfm.apply_image(current), 0.0, 255.0)
        return TransformList(tfms)


def build_clip_augmentation(cfg: CfgNode, is_train: bool) -> list[Augmentation]:
    """The augmentations of the SlowFast AVA recipe from ``cfg.INPUT``."""
    if not is_train:
        return [ShortSideScale(cfg.INPUT.TEST_SHORT_SIDE)]
    lo, hi = cfg.INPUT.TRAIN_JITTER_SCALES
    crop = cfg.INPUT.TRAIN_CROP_SIZE
    grid = cfg.INPUT.TRAIN_CROP_GRID
    if grid not in CROP_GRIDS:
        raise ValueError(f"INPUT.TRAIN_CROP_GRID={grid!r} is not one of {', '.join(CROP_GRIDS)}")
    augs: list[Augmentation] = (
        [RandomScaleCrop(lo, hi, crop)]
        if grid == "source"
        else [RandomShortSideScale(lo, hi), RandomCrop("absolute", (crop, crop))]
    )
    augs.append(RandomFlip(prob=0.5, horizontal=True, vertical=False))
    if cfg.INPUT.COLOR_JITTER > 0:
        augs.append(RandomClipColorJitter(cfg.INPUT.COLOR_JITTER))
    return augs
