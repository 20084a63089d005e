"""Video-aware augmentations: Detectron2 transforms applied to whole clips, boxes moved with them."""

from .augmentation import RandomClipColorJitter, RandomShortSideScale, build_clip_augmentation
from .clip_input import ClipAugInput, apply_transform_to_clip

__all__ = [
    "ClipAugInput",
    "RandomClipColorJitter",
    "RandomShortSideScale",
    "apply_transform_to_clip",
    "build_clip_augmentation",
]
