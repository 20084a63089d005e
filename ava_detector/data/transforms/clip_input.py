"""Apply Detectron2 transforms to a whole clip: the same transform for every frame, boxes moved with it."""

from __future__ import annotations

import cv2
import numpy as np
from detectron2.data.transforms import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    Transform,
    TransformList,
)

from ava_detector.data.transforms.resize import ClipResizeTransform

# Transforms whose apply_image already takes (T, H, W, C) arrays; any other is applied frame by frame.
_CLIP_NATIVE = (BlendTransform, CropTransform, HFlipTransform, NoOpTransform, ClipResizeTransform)


def apply_transform_to_clip(tfm: Transform, clip: np.ndarray) -> np.ndarray:
    """``tfm`` applied to every frame of a clip.

    Args:
        tfm: a Detectron2 transform (or a ``TransformList`` of them).
        clip: ``(T, H, W, C)``.

    Returns:
        ``(T, H', W', C)``.
    """
    if isinstance(tfm, TransformList):
        for t in tfm.transforms:
            clip = apply_transform_to_clip(t, clip)
        return clip
    if isinstance(tfm, HFlipTransform) and clip.ndim == 4 and clip.strides[2] == clip.itemsize:
        return _hflip_planes(clip)
    if isinstance(tfm, _CLIP_NATIVE):
        return tfm.apply_image(clip)
    return np.stack([tfm.apply_image(frame) for frame in clip])


def _hflip_planes(clip: np.ndarray) -> np.ndarray:
    """Horizontal flip of a ``(T, H, W, C)`` clip stored channel-first (as
    :class:`~.resize.ClipResizeTransform` returns it, possibly cropped): ``cv2.flip`` of each plane
    into new channel-first storage, so the model's ``(3, T, H, W)`` tensor stays one contiguous
    block (copying a reversed view into it afterwards takes ~4x longer)."""
    t, h, w, c = clip.shape
    planes = np.empty((c, t, h, w), dtype=clip.dtype)
    for k in range(c):
        for i in range(t):
            cv2.flip(clip[i, :, :, k], 1, dst=planes[k, i])
    return planes.transpose(1, 2, 3, 0)


class ClipAugInput:
    """An ``AugInput`` for clips: what :class:`~detectron2.data.transforms.AugmentationList` needs.

    Attributes: ``clip`` uint8 ``(T, H, W, 3)``; ``image`` its first frame (what size-driven
    augmentations such as ``ResizeShortestEdge`` / ``RandomCrop`` / ``RandomFlip`` look at);
    ``boxes`` ``(K, 4)`` absolute XYXY or None.
    """

    def __init__(self, clip: np.ndarray, *, boxes: np.ndarray | None = None):
        if clip.ndim != 4:
            raise ValueError(f"a clip is (T, H, W, C), got shape {clip.shape}")
        self.clip = clip
        self.boxes = boxes

    @property
    def image(self) -> np.ndarray:
        return self.clip[0]

    def transform(self, tfm: Transform) -> None:
        """Transform the clip and the boxes in place."""
        self.clip = apply_transform_to_clip(tfm, self.clip)
        if self.boxes is not None:
            self.boxes = tfm.apply_box(self.boxes)
