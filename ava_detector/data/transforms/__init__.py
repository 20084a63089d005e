"""Video-aware augmentations: Detectron2 transforms applied to whole clips, boxes moved with them."""

from .augmentation import (
    RandomClipColorJitter,
    RandomShortSideScale,
    ShortSideScale,
    build_clip_augmentation,
    short_side_resize,
)
from .clip_input import ClipAugInput, apply_transform_to_clip
from .resize import ClipResizeTransform, short_side_output_shape

__all__ = [
    "ClipAugInput",
    "ClipResizeTransform",
    "RandomClipColorJitter",
    "RandomShortSideScale",
    "ShortSideScale",
    "apply_transform_to_clip",
    "build_clip_augmentation",
    "short_side_output_shape",
    "short_side_resize",
]
