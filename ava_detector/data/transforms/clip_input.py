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
from ava_detector.data.transforms.scale_crop import ClipScaleCropTransform
from ava_detector.data.video.frame_source import LazyClip

# Transforms whose apply_image already takes (T, H, W, C) arrays; any other is applied frame by frame.
_CLIP_NATIVE = (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    ClipResizeTransform,
    ClipScaleCropTransform,
)


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

    The clip may come as a :class:`~ava_detector.data.video.frame_source.LazyClip` (e.g. decoded
    video frames converted when read): a deferred scale-crop then reads only the source region it
    resizes, a deferred resize each whole frame as it resizes it, and anything else the whole clip
    first; the pixels are the same as from the whole clip.

    A :class:`~.resize.ClipResizeTransform` of a 3-channel clip is applied lazily, together with a
    ``CropTransform`` and an ``HFlipTransform`` that follow it (the train recipe: jitter, crop,
    flip): each frame is resized as before, then only the cropped window is flipped and split into
    the channel-first clip. Same pixels as applying them one by one (the resize is the same
    ``cv2.resize`` call), without writing the planes of the whole resized frames, the separate flip
    pass and the copy the model's contiguous tensor then needs. A
    :class:`~.scale_crop.ClipScaleCropTransform` (the resize and the crop in one, resizing only the
    window) is deferred the same way, with the flip after it. ``image`` (the resized first frame)
    and ``clip`` are computed when read; any other transform first applies what is pending.
    """

    def __init__(self, clip: np.ndarray | LazyClip, *, boxes: np.ndarray | None = None):
        if clip.ndim != 4:
            raise ValueError(f"a clip is (T, H, W, C), got shape {clip.shape}")
        self._clip: np.ndarray | LazyClip = clip
        self._frame0: np.ndarray | None = None  # the first frame of a LazyClip, once converted
        self.boxes = boxes
        # pending: (resize, crop or None, flip) applied to self._clip when the clip is read
        self._resize: ClipResizeTransform | ClipScaleCropTransform | None = None
        self._crop: CropTransform | None = None
        self._flip = False
        self._first: np.ndarray | None = None  # the first frame resized (HWC), once read

    @property
    def clip(self) -> np.ndarray:
        if self._resize is not None:
            self._clip = _resize_crop_flip(
                self._clip, self._resize, self._crop, self._flip, self._first
            )
            self._resize, self._crop, self._flip, self._first = None, None, False, None
        if not isinstance(self._clip, np.ndarray):
            self._clip = self._clip.to_array()
        return self._clip

    @clip.setter
    def clip(self, value: np.ndarray) -> None:
        self._resize, self._crop, self._flip, self._first = None, None, False, None
        self._clip = value

    @property
    def image(self) -> np.ndarray:
        if self._resize is None:
            if isinstance(self._clip, np.ndarray):
                return self._clip[0]
            if self._frame0 is None:
                self._frame0 = self._clip[0]
            return self._frame0
        if self._first is None:  # resized once; the clip's materialization reuses it
            self._first = _scale_frame(self._resize, self._clip, 0)
        y0, x0, h, w = _window(self._resize, self._crop)
        image = self._first[y0 : y0 + h, x0 : x0 + w]
        return image[:, ::-1] if self._flip else image

    def _defer(self, tfm: Transform) -> bool:
        """Whether ``tfm`` joins the pending resize / crop / flip (then its effect on the pixels
        waits until they are read)."""
        if isinstance(tfm, (ClipResizeTransform, ClipScaleCropTransform)):
            clip = self._clip
            ok = (
                self._resize is None
                and clip.shape[3:] == (3,)
                and clip.dtype == np.uint8
                and tuple(clip.shape[1:3]) == (tfm.h, tfm.w)
            )
            if isinstance(tfm, ClipResizeTransform):
                ok = (
                    ok
                    and tfm.interp == cv2.INTER_LINEAR
                    and (tfm.new_h, tfm.new_w) != (tfm.h, tfm.w)
                )
            if ok:
                self._resize = tfm
            return ok
        if self._resize is None or self._flip:
            return False
        if isinstance(self._resize, ClipScaleCropTransform):
            if isinstance(tfm, HFlipTransform) and tfm.width == self._resize.crop_w:
                self._flip = True
                return True
            return isinstance(tfm, NoOpTransform)
        if isinstance(tfm, CropTransform) and self._crop is None:
            nh, nw = self._resize.new_h, self._resize.new_w
            if (tfm.orig_w, tfm.orig_h) not in ((None, None), (nw, nh)):
                return False  # a crop that also resizes: apply as Detectron2 does
            if not (
                0 <= tfm.x0
                and 0 <= tfm.y0
                and 0 < tfm.w
                and 0 < tfm.h
                and tfm.x0 + tfm.w <= nw
                and tfm.y0 + tfm.h <= nh
            ):
                return False
            self._crop = tfm
            return True
        if isinstance(tfm, HFlipTransform):
            w = self._crop.w if self._crop is not None else self._resize.new_w
            if tfm.width != w:
                return False
            self._flip = True
            return True
        return isinstance(tfm, NoOpTransform)

    def transform(self, tfm: Transform) -> None:
        """Transform the clip and the boxes in place."""
        if isinstance(tfm, TransformList):
            for t in tfm.transforms:
                self.transform(t)
            return
        if not self._defer(tfm):
            self.clip = apply_transform_to_clip(tfm, self.clip)
        if self.boxes is not None:
            self.boxes = tfm.apply_box(self.boxes)


def _scale_frame(
    tfm: ClipResizeTransform | ClipScaleCropTransform,
    clip: np.ndarray | LazyClip,
    i: int,
    dst: np.ndarray | None = None,
) -> np.ndarray:
    """Frame ``i`` of a clip through a deferred resize: the whole frame resized, or the region of
    a scale-crop scaled (the window at its top-left corner; of a :class:`LazyClip`, only that
    region is read)."""
    if isinstance(tfm, ClipScaleCropTransform):
        if not isinstance(clip, np.ndarray):
            return tfm.resize_region(clip.region(i, *tfm.region_box()), dst)
        return tfm.scale_region(clip[i], dst)
    size = (int(tfm.new_w), int(tfm.new_h))
    frame = np.ascontiguousarray(clip[i])
    return cv2.resize(frame, size, dst=dst, interpolation=cv2.INTER_LINEAR)


def _window(
    tfm: ClipResizeTransform | ClipScaleCropTransform, crop: CropTransform | None
) -> tuple[int, int, int, int]:
    """``(y0, x0, h, w)`` of the output window in what :func:`_scale_frame` returns."""
    if isinstance(tfm, ClipScaleCropTransform):
        return 0, 0, int(tfm.crop_h), int(tfm.crop_w)
    if crop is None:
        return 0, 0, int(tfm.new_h), int(tfm.new_w)
    return int(crop.y0), int(crop.x0), int(crop.h), int(crop.w)


def _resize_crop_flip(
    clip: np.ndarray | LazyClip,
    resize: ClipResizeTransform | ClipScaleCropTransform,
    crop: CropTransform | None,
    flip: bool,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """``resize`` (a resize, or a scale-crop), then ``crop`` (if any), then a horizontal flip (if
    ``flip``) of a uint8 ``(T, H, W, 3)`` clip, as a ``(T, H', W', 3)`` view of channel-first
    ``(3, T, H', W')`` storage: pixel for pixel what :func:`apply_transform_to_clip` gives for them
    in turn. ``first``: the first frame already through :func:`_scale_frame` (not scaled again)."""
    y0, x0, h, w = _window(resize, crop)
    t = clip.shape[0]
    planes = np.empty((3, t, h, w), dtype=np.uint8)
    if first is None:
        first = _scale_frame(resize, clip, 0)
    tmp = np.empty_like(first)
    # The window goes to contiguous memory before it is split: cv2.split of a strided window (a
    # crop) costs ~10x the copy and the split of contiguous pixels together.
    contiguous = np.empty((h, w, 3), dtype=np.uint8)
    for i in range(t):
        frame = first if i == 0 else _scale_frame(resize, clip, i, tmp)
        window = frame[y0 : y0 + h, x0 : x0 + w]
        src = window
        if flip:
            cv2.flip(window, 1, dst=contiguous)
            src = contiguous
        elif not window.flags.c_contiguous:
            np.copyto(contiguous, window)
            src = contiguous
        cv2.split(src, [planes[0, i], planes[1, i], planes[2, i]])
    return planes.transpose(1, 2, 3, 0)
