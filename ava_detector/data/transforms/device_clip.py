"""Clip transforms as torch ops on any device: the half of the data pipeline that ``INPUT.DECODE_DEVICE``
moves from the DataLoader workers to the model's device.

With ``INPUT.DECODE_DEVICE`` other than ``"cpu"`` the workers only read JPEG bytes and *sample* the
augmentations: the same Detectron2 augmentations as the CPU path, drawn in the same order from the
same random stream, run on a :class:`ShapeAugInput` that carries the frame size and the boxes but no
pixels. Each transform becomes a small picklable op (:data:`ClipOp`: :class:`Resize`, :class:`Crop`,
:class:`ScaleCrop`, :class:`HFlip`, :class:`ColorJitter`); boxes move with the Detectron2 transform itself (``apply_box``),
so they are bit-identical to the CPU path. On the device :func:`apply_clip_ops` replays the ops on the
decoded frames:

- resize: ``interpolate(mode="bilinear", align_corners=False, antialias=False)`` in float32, rounded
  (``cv2.resize`` ``INTER_LINEAR``, which rounds fixed-point weights: at most 1 grey level apart);
- scale-crop: the source region under the window (replicated past the frame's border, as OpenCV
  clamps), ``interpolate`` with the whole frame's scale factors, then the window (within 1 grey
  level of :class:`~.scale_crop.ClipScaleCropTransform`);
- crop, flip: exact;
- colour jitter: PySlowFast's blends as :class:`~.augmentation.RandomClipColorJitter` computes them
  (truncated to uint8 after every blend, gray references from the unrounded clip).

Every op is per frame, so a clip's distinct frames are transformed once and the pathways gathered
afterwards.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data.transforms import (
    Augmentation,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    Transform,
    TransformList,
)

from ava_detector.data.transforms.augmentation import (
    _GRAY,
    RandomClipColorJitter,
)
from ava_detector.data.transforms.resize import ClipResizeTransform
from ava_detector.data.transforms.scale_crop import ClipScaleCropTransform, region_size

__all__ = [
    "ClipColorJitterTransform",
    "ClipOp",
    "ColorJitter",
    "Crop",
    "DeviceColorJitter",
    "HFlip",
    "Resize",
    "ScaleCrop",
    "ShapeAugInput",
    "apply_clip_ops",
    "clip_ops_from_transform",
    "device_augmentations",
    "ops_output_size",
    "resize_frames",
    "scale_crop_frames",
]


class Resize(NamedTuple):
    """Bilinear resize of every frame to ``new_h x new_w`` (``cv2.resize`` ``INTER_LINEAR``)."""

    new_h: int
    new_w: int


class Crop(NamedTuple):
    """Keep ``[y0, y0 + h) x [x0, x0 + w)`` of every frame."""

    x0: int
    y0: int
    w: int
    h: int


class ScaleCrop(NamedTuple):
    """:class:`~.scale_crop.ClipScaleCropTransform`: ``h x w`` frames scaled to ``new_h x new_w``,
    the ``crop_h x crop_w`` window whose corner is source pixel ``(x0, y0)``."""

    h: int
    w: int
    new_h: int
    new_w: int
    x0: int
    y0: int
    crop_w: int
    crop_h: int


class HFlip(NamedTuple):
    """Mirror every frame left-right."""


class ColorJitter(NamedTuple):
    """PySlowFast's colour jitter: ``steps`` of ``(kind, alpha)`` in order, kind 0 = brightness
    (blend with black), 1 = contrast (with the frame's mean gray), 2 = saturation (with the pixel's
    gray); each step is ``alpha * clip + (1 - alpha) * reference``."""

    steps: tuple[tuple[int, float], ...]


ClipOp = Union[Resize, Crop, ScaleCrop, HFlip, ColorJitter]


class ClipColorJitterTransform(Transform):
    """The colour jitter as a Detectron2 ``Transform`` whose pixels are computed on the device
    (:func:`apply_clip_ops`); it leaves coordinates unchanged.

    Args:
        steps: ``(kind, alpha)`` pairs as in :class:`ColorJitter`.
    """

    def __init__(self, steps: tuple[tuple[int, float], ...]):
        super().__init__()
        self.steps = tuple((int(k), float(a)) for k, a in steps)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            "ClipColorJitterTransform is applied on the decode device by apply_clip_ops"
        )

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords


class DeviceColorJitter(Augmentation):
    """Draws the parameters of :class:`~.augmentation.RandomClipColorJitter` (a permutation of the
    three kinds, then one ``1 + U(-s, s)`` per kind, from ``np.random`` in that order) without
    looking at pixels; returns a :class:`ClipColorJitterTransform`.

    Args:
        strength: ``s``, the jitter as a fraction.
    """

    def __init__(self, strength: float):
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> ClipColorJitterTransform:
        """Args: image: ``(H, W, C)`` (unused: the draws do not depend on it)."""
        steps = []
        for kind in np.random.permutation(3):
            alpha = 1.0 + np.random.uniform(-self.strength, self.strength)
            steps.append((int(kind), float(alpha)))
        return ClipColorJitterTransform(tuple(steps))


def device_augmentations(augmentations: list[Augmentation]) -> list[Augmentation]:
    """The augmentations to run on a :class:`ShapeAugInput`: each one as it is, except
    :class:`~.augmentation.RandomClipColorJitter` (which reads pixels) replaced by a
    :class:`DeviceColorJitter` of the same strength, drawing the same numbers.

    Args:
        augmentations: the CPU path's list (``build_clip_augmentation``).
    """
    return [
        DeviceColorJitter(a.strength) if isinstance(a, RandomClipColorJitter) else a
        for a in augmentations
    ]


def clip_ops_from_transform(tfm: Transform) -> list[ClipOp]:
    """The device ops of a Detectron2 transform (a ``TransformList`` is flattened).

    Supported: no-op, :class:`~.resize.ClipResizeTransform` with ``INTER_LINEAR`` (the CPU path's
    resize), :class:`~.scale_crop.ClipScaleCropTransform`, ``CropTransform``, ``HFlipTransform``
    and :class:`ClipColorJitterTransform`; anything
    else (e.g. Detectron2's PIL ``ResizeTransform``, whose antialiasing has no equivalent here)
    raises ``TypeError``.

    Args:
        tfm: a transform returned by an augmentation.
    """
    if isinstance(tfm, TransformList):
        return [op for t in tfm.transforms for op in clip_ops_from_transform(t)]
    if isinstance(tfm, NoOpTransform):
        return []
    if isinstance(tfm, CropTransform):
        return [Crop(int(tfm.x0), int(tfm.y0), int(tfm.w), int(tfm.h))]
    if isinstance(tfm, HFlipTransform):
        return [HFlip()]
    if isinstance(tfm, ClipColorJitterTransform):
        return [ColorJitter(tfm.steps)]
    if isinstance(tfm, ClipScaleCropTransform):
        fields = ("h", "w", "new_h", "new_w", "x0", "y0", "crop_w", "crop_h")
        return [ScaleCrop(*(int(getattr(tfm, f)) for f in fields))]
    if isinstance(tfm, ClipResizeTransform) and tfm.interp == cv2.INTER_LINEAR:
        if (tfm.new_h, tfm.new_w) == (tfm.h, tfm.w):
            return []
        return [Resize(int(tfm.new_h), int(tfm.new_w))]
    raise TypeError(
        f"{type(tfm).__name__} has no device implementation (INPUT.DECODE_DEVICE); supported: "
        "ClipResizeTransform (INTER_LINEAR), ClipScaleCropTransform, crop, horizontal flip, "
        "colour jitter"
    )


def ops_output_size(
    height: int, width: int, ops: list[ClipOp] | tuple[ClipOp, ...]
) -> tuple[int, int]:
    """``(H', W')`` of ``height x width`` frames after ``ops``.

    Args:
        height, width: the decoded frames' size.
        ops: the clip's ops in order.
    """
    for op in ops:
        if isinstance(op, Resize):
            height, width = op.new_h, op.new_w
        elif isinstance(op, Crop):
            if op.x0 < 0 or op.y0 < 0 or op.x0 + op.w > width or op.y0 + op.h > height:
                raise ValueError(f"{op} outside a {height}x{width} frame")
            height, width = op.h, op.w
        elif isinstance(op, ScaleCrop):
            if (height, width) != (op.h, op.w):
                raise ValueError(f"{op} applied to a {height}x{width} frame")
            height, width = op.crop_h, op.crop_w
    return int(height), int(width)


class ShapeAugInput:
    """An ``AugInput`` without pixels: what the workers run the augmentations on when the device
    decodes.

    ``image`` is a zero-strided uint8 ``(H, W, 3)`` view (no memory; size-driven augmentations only
    read its shape), ``boxes`` ``(K, 4)`` absolute XYXY or None, ``ops`` the device ops so far.

    Args:
        height, width: the decoded frames' size.
        boxes: ``(K, 4)`` absolute XYXY in those pixels, or None.
    """

    def __init__(self, height: int, width: int, *, boxes: np.ndarray | None = None):
        self.height, self.width = int(height), int(width)
        self.boxes = boxes
        self.ops: list[ClipOp] = []

    @property
    def image(self) -> np.ndarray:
        return np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (self.height, self.width, 3))

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` after the transforms so far."""
        return self.height, self.width

    def transform(self, tfm: Transform) -> None:
        """Record ``tfm``'s ops, update the size and move the boxes (in place)."""
        ops = clip_ops_from_transform(tfm)
        self.height, self.width = ops_output_size(self.height, self.width, ops)
        self.ops.extend(ops)
        if self.boxes is not None:
            self.boxes = tfm.apply_box(self.boxes)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize as ``cv2.resize(..., INTER_LINEAR)``: half-pixel centres, no antialiasing,
    computed in float32 and rounded (OpenCV's fixed-point weights differ by at most 1 grey level).

    Args:
        frames: uint8 ``(N, C, H, W)``.
        size: ``(H', W')``.

    Returns:
        uint8 ``(N, C, H', W')`` on the same device.
    """
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    out = F.interpolate(
        frames.float(), size=tuple(size), mode="bilinear", align_corners=False, antialias=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def scale_crop_frames(frames: torch.Tensor, op: ScaleCrop) -> torch.Tensor:
    """:class:`ScaleCrop` of uint8 ``(N, C, H, W)`` frames: the source region under the window
    (past the frame's border its edge pixels repeat, as OpenCV clamps), bilinear ``interpolate``
    with the op's scale factors (OpenCV's sampling grid from the region's corner), the window, rounded.

    Returns:
        uint8 ``(N, C, crop_h, crop_w)`` on the same device.
    """
    rh = region_size(op.crop_h, op.h, op.new_h)
    rw = region_size(op.crop_w, op.w, op.new_w)
    region = frames[:, :, op.y0 : op.y0 + rh, op.x0 : op.x0 + rw].float()
    short_h, short_w = rh - region.shape[-2], rw - region.shape[-1]
    if short_h or short_w:
        region = F.pad(region, (0, short_w, 0, short_h), mode="replicate")
    out = F.interpolate(
        region,
        scale_factor=(op.new_h / op.h, op.new_w / op.w),  # as cv2.resize's fx, fy
        mode="bilinear",
        align_corners=False,
        recompute_scale_factor=False,
        antialias=False,
    )
    return out[..., : op.crop_h, : op.crop_w].round_().clamp_(0, 255).to(torch.uint8)


def _gray(frames: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` float -> ``(N, 1, H, W)`` ITU-R 601 luma."""
    w = torch.as_tensor(_GRAY, device=frames.device).view(1, 3, 1, 1)
    return (frames * w).sum(dim=1, keepdim=True)


def _color_jitter(frames: torch.Tensor, steps: tuple[tuple[int, float], ...]) -> torch.Tensor:
    """PySlowFast's colour jitter on uint8 ``(N, 3, H, W)`` frames (see :class:`ColorJitter`).

    Two tracks, as the CPU path: the output is truncated to uint8 after every blend, while the gray
    references come from the unrounded clip.
    """
    exact = frames.float()
    out = exact.clone()
    for kind, alpha in steps:
        if kind == 0:
            ref = None
        elif kind == 1:
            ref = _gray(exact).mean(dim=(2, 3), keepdim=True)
        else:
            ref = _gray(exact)
        if ref is None:
            out = (alpha * out).clamp_(0, 255).floor_()
            exact = (alpha * exact).clamp_(0, 255)
        else:
            ref = (1.0 - alpha) * ref
            out = (ref + alpha * out).clamp_(0, 255).floor_()
            exact = (ref + alpha * exact).clamp_(0, 255)
    return out.to(torch.uint8)


def apply_clip_ops(frames: torch.Tensor, ops: list[ClipOp] | tuple[ClipOp, ...]) -> torch.Tensor:
    """Replay a clip's ops on its decoded frames, on their device.

    Args:
        frames: uint8 ``(N, 3, H, W)``, the clip's frames (any subset or order: every op is per frame).
        ops: from :class:`ShapeAugInput` (the mapper's ``clip_transforms``).

    Returns:
        uint8 ``(N, 3, H', W')`` with ``(H', W') = ops_output_size(H, W, ops)``.
    """
    for op in ops:
        if isinstance(op, Resize):
            frames = resize_frames(frames, (op.new_h, op.new_w))
        elif isinstance(op, Crop):
            frames = frames[:, :, op.y0 : op.y0 + op.h, op.x0 : op.x0 + op.w]
        elif isinstance(op, ScaleCrop):
            frames = scale_crop_frames(frames, op)
        elif isinstance(op, HFlip):
            frames = frames.flip(-1)
        elif isinstance(op, ColorJitter):
            frames = _color_jitter(frames, op.steps)
        else:
            raise TypeError(f"unknown clip op {op!r}")
    return frames.contiguous()
