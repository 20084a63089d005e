"""The source-grid training crop (``INPUT.TRAIN_CROP_GRID source``): the scale-crop transform by hand,
against cv2.resize + crop where the offset is a whole pixel and against a float bilinear reference
elsewhere; the augmentation draws the numbers the resize + RandomCrop chain draws; deferred in
ClipAugInput as applied at once; its device op within 1 grey level."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from detectron2.data.transforms import (
    AugmentationList,
    CropTransform,
    HFlipTransform,
    RandomCrop,
    RandomFlip,
    TransformList,
)

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.transforms.augmentation import (
    RandomScaleCrop,
    RandomShortSideScale,
    build_clip_augmentation,
)
from ava_detector.data.transforms.clip_input import ClipAugInput, apply_transform_to_clip
from ava_detector.data.transforms.device_clip import (
    ScaleCrop,
    ShapeAugInput,
    apply_clip_ops,
    clip_ops_from_transform,
    ops_output_size,
)
from ava_detector.data.transforms.resize import ClipResizeTransform
from ava_detector.data.transforms.scale_crop import ClipScaleCropTransform, region_size
from ava_detector.data.video.frame_source import LazyClip

pytestmark = pytest.mark.usefixtures("one_thread")


def _smooth(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clip = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    return np.stack([cv2.GaussianBlur(f, (5, 5), 1.5) for f in clip])


def _bilinear(frame: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Float bilinear samples of ``frame`` at source coordinates ``ys x xs`` (edges clamped)."""
    h, w = frame.shape[:2]
    ys, xs = np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    f = frame.astype(np.float64)
    top = f[y0][:, x0] * (1 - wx) + f[y0][:, x1] * wx
    bottom = f[y1][:, x0] * (1 - wx) + f[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_scale_crop_by_hand():
    # img[y, x] = 10 x + 40 y, 4x4 halved: output pixel (0, 0) of the window at source (1, 1)
    # samples source (1 + 0.5 * 2 - 0.5) = 1.5 on both axes -> 15 + 60 = 75 (exact weights 1/2)
    yy, xx = np.mgrid[0:4, 0:4]
    img = (10 * xx + 40 * yy).astype(np.uint8)[:, :, None].repeat(3, axis=2)
    tfm = ClipScaleCropTransform(4, 4, 2, 2, x0=1, y0=1, crop_w=1, crop_h=1)
    assert tfm.apply_image(img)[:, :, 0].tolist() == [[75]]
    # whole frame halved: (0.5, 2.5) -> 5 + 20 = 25, 25 + 20 = 45, ...: the window is none of them
    assert cv2.resize(img, (2, 2), interpolation=cv2.INTER_LINEAR)[:, :, 0].tolist() == [
        [25, 45],
        [105, 125],
    ]
    # boxes: (x - 1) / 2, (y - 1) / 2
    box = np.array([[1.0, 1.0, 3.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(tfm.apply_box(box), [[0.0, 0.0, 1.0, 1.0]])
    # a one-channel image stays (H, W, 1); a plane stays a plane
    assert tfm.apply_image(img[:, :, :1]).shape == (1, 1, 1)
    assert tfm.apply_image(img[:, :, 0]).tolist() == [[75]]


def test_whole_pixel_offset_equals_resize_then_crop():
    # 120x160 -> 96x128 (factor 0.8): source corner (5, 10) is scaled-frame pixel (4, 8)
    clip = _smooth(3, 120, 160)
    tfm = ClipScaleCropTransform(120, 160, 96, 128, x0=5, y0=10, crop_w=64, crop_h=56)
    ref_tfm = TransformList([ClipResizeTransform(120, 160, 96, 128), CropTransform(4, 8, 64, 56)])
    np.testing.assert_array_equal(tfm.apply_image(clip), apply_transform_to_clip(ref_tfm, clip))
    boxes = np.array([[10.0, 20.0, 90.0, 100.0], [0.0, 0.0, 160.0, 120.0]], dtype=np.float32)
    np.testing.assert_allclose(tfm.apply_box(boxes.copy()), ref_tfm.apply_box(boxes.copy()))


@pytest.mark.parametrize(
    "size,new,corner,crop",
    [
        ((360, 640), (288, 512), (101, 37), (224, 224)),
        ((360, 640), (256, 455), (0, 0), (224, 224)),
        ((360, 640), (320, 568), (387, 108), (224, 224)),  # window on the right and bottom edges
        ((120, 160), (70, 93), (11, 7), (64, 64)),
    ],
)
def test_fractional_offset_is_the_scaled_frames_window(size, new, corner, crop):
    # the window of the whole frame scaled, at offset corner * new / size: output pixel i samples
    # source corner + (i + 0.5) * size / new - 0.5 (OpenCV's grid), bilinear (within 1 grey level
    # of OpenCV's 11-bit fixed-point weights)
    (h, w), (nh, nw), (x0, y0), (cw, ch) = size, new, corner, crop
    frame = _smooth(1, h, w, seed=3)[0]
    tfm = ClipScaleCropTransform(h, w, nh, nw, x0=x0, y0=y0, crop_w=cw, crop_h=ch)
    out = tfm.apply_image(frame)
    assert out.shape == (ch, cw, 3)
    ys = y0 + (np.arange(ch) + 0.5) * h / nh - 0.5
    xs = x0 + (np.arange(cw) + 0.5) * w / nw - 0.5
    diff = np.abs(out.astype(np.float64) - _bilinear(frame, ys, xs))
    assert diff.max() <= 1.0


def test_checks_and_region_size():
    with pytest.raises(ValueError, match="only downscales"):
        ClipScaleCropTransform(96, 128, 192, 256, 0, 0, 64, 64)
    with pytest.raises(ValueError, match="does not fit"):  # 70 * 0.8 + 64 = 120 > 96
        ClipScaleCropTransform(120, 160, 96, 128, x0=0, y0=70, crop_w=64, crop_h=64)
    ClipScaleCropTransform(120, 160, 96, 128, x0=0, y0=40, crop_w=64, crop_h=64)  # 32 + 64 fits
    assert region_size(224, 360, 288) == 280 + 2  # ceil(224 * 1.25) exactly, no float rounding
    assert region_size(224, 640, 455) == 316 + 2  # ceil(315.08)
    with pytest.raises(ValueError, match="expected frames of 120x160"):
        ClipScaleCropTransform(120, 160, 96, 128, 0, 0, 64, 64).apply_image(np.zeros((90, 160, 3)))


@pytest.mark.parametrize("seed", range(8))
def test_augmentation_draws_what_resize_and_random_crop_draw(seed):
    # one uniform (the short side), two randint (row, column) in RandomCrop's order; the corner is
    # the source pixel at or before the scaled frame's: floor(w0 * w / new_w)
    frame = np.zeros((360, 640, 3), np.uint8)
    np.random.seed(seed)
    tfm = RandomScaleCrop(256, 320, 224).get_transform(frame)
    after = np.random.rand()
    np.random.seed(seed)
    resize = RandomShortSideScale(256, 320).get_transform(frame)
    crop = RandomCrop("absolute", (224, 224)).get_transform(np.zeros((resize.new_h, resize.new_w)))
    assert np.random.rand() == after  # the stream is where the chain leaves it
    assert isinstance(tfm, ClipScaleCropTransform)
    assert (tfm.new_h, tfm.new_w) == (resize.new_h, resize.new_w)
    assert tfm.x0 == crop.x0 * 640 // resize.new_w and tfm.y0 == crop.y0 * 360 // resize.new_h
    # the window sits less than one output pixel up and left of the chain's
    assert 0 <= crop.x0 - tfm.x0 * resize.new_w / 640 < 1
    assert 0 <= crop.y0 - tfm.y0 * resize.new_h / 360 < 1
    assert (tfm.crop_h, tfm.crop_w) == (224, 224)


def test_augmentation_upscaling_is_the_resize_and_crop_chain():
    frame = np.zeros((96, 128, 3), np.uint8)
    np.random.seed(4)
    tfm = RandomScaleCrop(256, 320, 224).get_transform(frame)
    np.random.seed(4)
    resize = RandomShortSideScale(256, 320).get_transform(frame)
    crop = RandomCrop("absolute", (224, 224)).get_transform(np.zeros((resize.new_h, resize.new_w)))
    assert isinstance(tfm, TransformList)
    assert [vars(t) for t in tfm.transforms] == [vars(resize), vars(crop)]
    # a frame already at the drawn size: no resize, RandomCrop's crop (clamped to the frame)
    np.random.seed(0)
    same = RandomScaleCrop(64, 64, 80).get_transform(np.zeros((64, 100, 3), np.uint8))
    (noop, crop) = same.transforms
    assert (crop.w, crop.h) == (80, 64) and crop.y0 == 0


@pytest.mark.parametrize("flip", [False, True])
def test_deferred_scale_crop_equals_applying_it(flip):
    clip = _smooth(4, 90, 160, seed=1)
    tfm = ClipScaleCropTransform(90, 160, 72, 128, x0=13, y0=6, crop_w=96, crop_h=64)
    steps = [tfm, HFlipTransform(96)] if flip else [tfm]
    boxes = np.array([[20.0, 10.0, 100.0, 80.0]], dtype=np.float32)
    inp = ClipAugInput(clip, boxes=boxes.copy())
    ref = clip
    for step in steps:
        inp.transform(step)
        ref = apply_transform_to_clip(step, ref)
    np.testing.assert_array_equal(inp.image, ref[0])  # what a later augmentation looks at
    np.testing.assert_array_equal(inp.clip, ref)
    np.testing.assert_allclose(inp.boxes, TransformList(steps).apply_box(boxes.copy()))
    assert inp.clip.transpose(3, 0, 1, 2).flags.c_contiguous  # the model's tensor is a view


class _CountingClip:
    """A LazyClip over an array that records what is read."""

    ndim, dtype = 4, np.dtype(np.uint8)

    def __init__(self, clip):
        self._clip, self.shape, self.reads = clip, clip.shape, []

    def __len__(self):
        return len(self._clip)

    def __getitem__(self, i):
        self.reads.append(("frame", i))
        return self._clip[i]

    def region(self, i, y0, x0, h, w):
        self.reads.append(("region", i, h, w))
        return self._clip[i, y0 : y0 + h, x0 : x0 + w]

    def to_array(self):
        self.reads.append(("all",))
        return self._clip


@pytest.mark.parametrize("deferred", [True, False])
def test_a_lazy_clip_is_read_only_where_the_transforms_look(deferred):
    clip = _smooth(3, 90, 160, seed=2)
    lazy = _CountingClip(clip)
    assert isinstance(lazy, LazyClip)
    scale_crop = ClipScaleCropTransform(90, 160, 72, 128, x0=13, y0=6, crop_w=96, crop_h=64)
    tfm = scale_crop if deferred else CropTransform(3, 5, 60, 40)
    inp = ClipAugInput(lazy)
    inp.transform(tfm)
    np.testing.assert_array_equal(inp.clip, apply_transform_to_clip(tfm, clip))
    if deferred:  # the source region under the window of each frame, nothing else
        rh, rw = region_size(64, 90, 72), region_size(96, 160, 128)
        assert lazy.reads == [("region", i, rh, rw) for i in range(3)]
    else:  # a transform that is not deferred reads the whole clip once
        assert lazy.reads == [("all",)]


def test_default_train_augmentation_uses_the_source_grid():
    cfg = get_ava_cfg()
    assert cfg.INPUT.TRAIN_CROP_GRID == "source"
    augs = build_clip_augmentation(cfg, is_train=True)
    assert [type(a) for a in augs] == [RandomScaleCrop, RandomFlip]
    cfg.INPUT.TRAIN_CROP_GRID = "resized"
    augs = build_clip_augmentation(cfg, is_train=True)
    assert [type(a) for a in augs] == [RandomShortSideScale, RandomCrop, RandomFlip]
    cfg.INPUT.TRAIN_CROP_GRID = "scaled"
    with pytest.raises(ValueError, match="'scaled' is not one of source, resized"):
        build_clip_augmentation(cfg, is_train=True)
    # through AugmentationList: 224x224 windows, boxes as the transforms say
    cfg.INPUT.TRAIN_CROP_GRID = "source"
    clip = _smooth(2, 360, 640)
    boxes = np.array([[100.0, 50.0, 300.0, 350.0]], dtype=np.float32)
    for seed in range(3):
        np.random.seed(seed)
        inp = ClipAugInput(clip, boxes=boxes.copy())
        tfms = AugmentationList(build_clip_augmentation(cfg, is_train=True))(inp)
        assert inp.clip.shape == (2, 224, 224, 3)
        np.testing.assert_array_equal(inp.clip, apply_transform_to_clip(tfms, clip))
        np.testing.assert_allclose(inp.boxes, tfms.apply_box(boxes.copy()))


@pytest.mark.parametrize("corner", [(0, 0), (123, 17), (387, 108)])  # last: region past the edges
def test_device_scale_crop_within_one_level(corner):
    clip = _smooth(3, 360, 640, seed=2)
    x0, y0 = corner
    tfm = ClipScaleCropTransform(360, 640, 320, 568, x0=x0, y0=y0, crop_w=224, crop_h=224)
    (op,) = clip_ops_from_transform(tfm)
    assert op == ScaleCrop(360, 640, 320, 568, x0, y0, 224, 224)
    assert ops_output_size(360, 640, [op]) == (224, 224)
    with pytest.raises(ValueError, match="applied to a 300x640 frame"):
        ops_output_size(300, 640, [op])
    out = apply_clip_ops(torch.from_numpy(clip).permute(0, 3, 1, 2), [op]).permute(0, 2, 3, 1)
    diff = np.abs(out.numpy().astype(int) - tfm.apply_image(clip))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.8
    # the shape-only input follows it, boxes moved by the transform itself
    boxes = np.array([[100.0, 50.0, 300.0, 350.0]], dtype=np.float32)
    shape = ShapeAugInput(360, 640, boxes=boxes.copy())
    shape.transform(tfm)
    assert shape.image_size == (224, 224) and shape.ops == [op]
    np.testing.assert_allclose(shape.boxes, tfm.apply_box(boxes.copy()))
