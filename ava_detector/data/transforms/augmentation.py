"""Clip augmentations of the SlowFast recipe, as Detectron2 ``Augmentation`` objects.

Train: short side jittered inverse-uniformly in ``INPUT.TRAIN_JITTER_SCALES``, random square crop of
``INPUT.TRAIN_CROP_SIZE``, horizontal flip p=0.5, optional colour jitter. Test: short side
``INPUT.TEST_SHORT_SIDE``, whole frame. Every frame of a clip gets the same transform.
"""

from __future__ import annotations

import sys

import numpy as np
from detectron2.data.transforms import (
    Augmentation,
    BlendTransform,
    RandomCrop,
    RandomFlip,
    ResizeShortestEdge,
    ResizeTransform,
    TransformList,
)

# ITU-R 601 luma weights, as PySlowFast's grayscale for colour jitter.
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class RandomShortSideScale(Augmentation):
    """Resize so the short side is ``round(1 / U(1/max_size, 1/min_size))`` (PySlowFast's
    inverse-uniform jitter: smaller scales are sampled more often than with a uniform draw)."""

    def __init__(self, min_size: int, max_size: int):
        super().__init__()
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        self._init(locals())

    def get_transform(self, image):
        h, w = image.shape[:2]
        size = int(round(1.0 / np.random.uniform(1.0 / self.max_size, 1.0 / self.min_size)))
        newh, neww = ResizeShortestEdge.get_output_shape(h, w, size, sys.maxsize)
        return ResizeTransform(h, w, newh, neww)


class RandomClipColorJitter(Augmentation):
    """Brightness, contrast and saturation jitter (factors ``1 + U(-s, s)``) in random order, the
    same factors for every frame; contrast blends with each frame's mean gray, saturation with each
    pixel's gray (PySlowFast's colour jitter)."""

    input_args = ("clip",)

    def __init__(self, strength: float):
        super().__init__()
        self._init(locals())

    def get_transform(self, clip):
        tfms = []
        current = clip.astype(np.float32)  # the clip as the next blend will see it
        for kind in np.random.permutation(3):
            alpha = 1.0 + np.random.uniform(-self.strength, self.strength)
            gray = current @ _GRAY
            if kind == 0:
                src = np.float32(0.0)
            elif kind == 1:
                src = gray.mean(axis=(1, 2), keepdims=True)[..., None]
            else:
                src = gray[..., None]
            tfm = BlendTransform(src_image=src, src_weight=1.0 - alpha, dst_weight=alpha)
            tfms.append(tfm)
            current = np.clip(tfm.apply_image(current), 0.0, 255.0)
        return TransformList(tfms)


def build_clip_augmentation(cfg, is_train: bool) -> list[Augmentation]:
    """The augmentations of the SlowFast AVA recipe from ``cfg.INPUT``."""
    if not is_train:
        return [ResizeShortestEdge(cfg.INPUT.TEST_SHORT_SIDE, max_size=sys.maxsize)]
    lo, hi = cfg.INPUT.TRAIN_JITTER_SCALES
    crop = cfg.INPUT.TRAIN_CROP_SIZE
    augs: list[Augmentation] = [
        RandomShortSideScale(lo, hi),
        RandomCrop("absolute", (crop, crop)),
        RandomFlip(prob=0.5, horizontal=True, vertical=False),
    ]
    if cfg.INPUT.COLOR_JITTER > 0:
        augs.append(RandomClipColorJitter(cfg.INPUT.COLOR_JITTER))
    return augs
