"""Clip transforms: boxes move with the frames (flip, crop, scale by hand), every frame gets the same
transform, cv2 bilinear resizing and PySlowFast's short-side output size (by hand), the
inverse-uniform short-side jitter, colour jitter shared by all frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from detectron2.data.transforms import (
    AugmentationList,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    TransformList,
)

from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.transforms.augmentation import (
    RandomClipColorJitter,
    RandomShortSideScale,
    ShortSideScale,
    build_clip_augmentation,
)
from ava_detector.data.transforms.clip_input import (
    ClipAugInput,
    apply_transform_to_clip,
)
from ava_detector.data.transforms.resize import (
    ClipResizeTransform,
    short_side_output_shape,
)


def _clip(t=3, h=40, w=60):
    rng = np.random.RandomState(0)
    return rng.randint(0, 256, size=(t, h, w, 3)).astype(np.uint8)


def test_flip_moves_frames_and_boxes():
    clip = _clip()
    inp = ClipAugInput(clip, boxes=np.array([[10.0, 5.0, 20.0, 15.0]], dtype=np.float32))
    inp.transform(HFlipTransform(60))
    np.testing.assert_array_equal(inp.clip, clip[:, :, ::-1])
    np.testing.assert_allclose(inp.boxes, [[40.0, 5.0, 50.0, 15.0]])  # x -> 60 - x


def test_crop_moves_boxes_and_keeps_pushed_out_box():
    clip = _clip()
    boxes = np.array([[10.0, 5.0, 20.0, 15.0], [0.0, 0.0, 4.0, 4.0]], dtype=np.float32)
    inp = ClipAugInput(clip, boxes=boxes)
    inp.transform(CropTransform(x0=8, y0=2, w=30, h=20))
    np.testing.assert_array_equal(inp.clip, clip[:, 2:22, 8:38])
    np.testing.assert_allclose(inp.boxes, [[2.0, 3.0, 12.0, 13.0], [-8.0, -2.0, -4.0, 2.0]])
    assert len(inp.boxes) == 2  # the box outside the crop stays (the mapper clips it to zero width)


def test_scale_moves_boxes_and_resizes_every_frame():
    clip = _clip()
    inp = ClipAugInput(clip, boxes=np.array([[10.0, 5.0, 20.0, 15.0]], dtype=np.float32))
    inp.transform(ClipResizeTransform(40, 60, 80, 120))
    assert inp.clip.shape == (3, 80, 120, 3)
    np.testing.assert_allclose(inp.boxes, [[20.0, 10.0, 40.0, 30.0]])
    for t in range(3):  # each frame resized on its own, as cv2.resize bilinear (PySlowFast's) does
        np.testing.assert_array_equal(
            inp.clip[t], cv2.resize(clip[t], (120, 80), interpolation=cv2.INTER_LINEAR)
        )
        np.testing.assert_array_equal(
            inp.clip[t], ClipResizeTransform(40, 60, 80, 120).apply_image(clip[t])
        )


def test_cv2_bilinear_resize_by_hand():
    # Upscaling 2x2 -> 4x4 with half-pixel centres: source x = (x' + 0.5) / 2 - 0.5, clamped at the
    # border, i.e. weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1) along each axis.
    img = np.array([[0, 160], [80, 240]], dtype=np.uint8)[:, :, None].repeat(3, axis=2)
    row0, row1 = [0, 40, 120, 160], [80, 120, 200, 240]
    expected = np.array(
        [
            row0,
            [0.75 * a + 0.25 * b for a, b in zip(row0, row1)],  # 20 60 140 180
            [0.25 * a + 0.75 * b for a, b in zip(row0, row1)],  # 60 100 180 220
            row1,
        ],
        dtype=np.uint8,
    )
    clip = np.stack([img, 255 - img])
    out = ClipResizeTransform(2, 2, 4, 4).apply_image(clip)
    assert out.shape == (2, 4, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, :, 1], expected)
    np.testing.assert_array_equal(out[1, :, :, 2], 255 - expected)
    # Halving 1x4 -> 1x2 averages pixel pairs (source x = 2x' + 0.5), no wider (antialiasing) filter:
    # [10, 30, 100, 200] -> [20, 150]. PIL's bilinear (Detectron2's ResizeTransform) would blend more.
    line = np.array([[10, 30, 100, 200]], dtype=np.uint8)[:, :, None].repeat(3, axis=2)
    np.testing.assert_array_equal(
        ClipResizeTransform(1, 4, 1, 2).apply_image(line)[0, :, 0], [20, 150]
    )
    # float frames (as after colour jitter) are resized too, at full precision
    flt = ClipResizeTransform(1, 4, 1, 2).apply_image(line.astype(np.float32)[None] + 0.5)
    np.testing.assert_allclose(flt[0, 0, :, 0], [20.5, 150.5])
    # the inverse maps the size back; a same-size transform returns the input itself
    assert ClipResizeTransform(2, 2, 4, 4).inverse().apply_image(out[0]).shape == (2, 2, 3)
    assert ClipResizeTransform(4, 4, 4, 4).apply_image(out) is out


def test_short_side_output_size_is_pyslowfasts_rule():
    # short side -> size, long side floor(long / short * size)
    assert short_side_output_shape(360, 640, 256) == (256, 455)  # 455.11
    assert short_side_output_shape(300, 400, 284) == (284, 378)  # 378.67: floored, not rounded
    assert short_side_output_shape(400, 300, 320) == (426, 320)  # portrait 426.67
    assert short_side_output_shape(154, 108, 270) == (
        384,
        270,
    )  # 154 / 108 * 270 = 384.99999... in floats
    assert short_side_output_shape(100, 100, 64) == (64, 64)
    # a frame whose short side already is the size is left alone (boxes too)
    tfm = ShortSideScale(256).get_transform(np.zeros((256, 400, 3), np.uint8))
    assert isinstance(tfm, NoOpTransform)
    tfm = ShortSideScale(256).get_transform(np.zeros((360, 640, 3), np.uint8))
    assert (tfm.new_h, tfm.new_w) == (256, 455)
    np.testing.assert_allclose(
        tfm.apply_box(np.array([[64.0, 36.0, 640.0, 360.0]])),
        [[64 * 455 / 640, 25.6, 455.0, 256.0]],
        rtol=1e-6,
    )


def test_transform_list_applies_in_order():
    clip = _clip()
    tfm = TransformList(
        [ClipResizeTransform(40, 60, 20, 30), CropTransform(5, 0, 20, 20), HFlipTransform(20)]
    )
    out = apply_transform_to_clip(tfm, clip)
    small = np.stack([cv2.resize(f, (30, 20), interpolation=cv2.INTER_LINEAR) for f in clip])
    np.testing.assert_array_equal(out, small[:, 0:20, 5:25][:, :, ::-1])
    # [10, 0, 30, 10] -> halved [5, 0, 15, 5] -> crop x0=5 [0, 0, 10, 5] -> flip in 20: [10, 0, 20, 5]
    np.testing.assert_allclose(
        tfm.apply_box(np.array([[10.0, 0.0, 30.0, 10.0]])), [[10.0, 0.0, 20.0, 5.0]]
    )


def test_short_side_scale_is_inverse_uniform(monkeypatch):
    aug = RandomShortSideScale(256, 320)
    draws = iter([1 / 320, 1 / 256, 0.5 * (1 / 256 + 1 / 320)])
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi: next(draws))
    image = np.zeros((300, 400, 3), np.uint8)
    sizes = [aug.get_transform(image) for _ in range(3)]
    # 1/mean -> 284.4 -> 284; long side floor(400 / 300 * size) as PySlowFast
    assert [(t.new_h, t.new_w) for t in sizes] == [(320, 426), (256, 341), (284, 378)]
    assert all(isinstance(t, ClipResizeTransform) for t in sizes)


def test_short_side_scale_distribution():
    np.random.seed(0)
    image = np.zeros((90, 160, 3), np.uint8)
    aug = RandomShortSideScale(256, 320)
    sizes = np.array([aug.get_transform(image).new_h for _ in range(4000)])
    assert sizes.min() >= 256 and sizes.max() <= 320
    # inverse-uniform: median 1 / mean(1/256, 1/320) = 284.4 (a uniform draw would give 288)
    assert abs(np.median(sizes) - 284.4) < 1.5


def test_train_and_test_augmentations_from_config():
    cfg = get_ava_cfg()
    np.random.seed(1)
    clip = np.zeros((4, 300, 400, 3), np.uint8)
    boxes = np.array([[0.0, 0.0, 400.0, 300.0]], dtype=np.float32)
    inp = ClipAugInput(clip, boxes=boxes.copy())
    AugmentationList(build_clip_augmentation(cfg, is_train=True))(inp)
    assert inp.clip.shape == (4, 224, 224, 3)
    inp = ClipAugInput(clip, boxes=boxes.copy())
    AugmentationList(build_clip_augmentation(cfg, is_train=False))(inp)
    assert inp.clip.shape == (4, 256, 341, 3)
    np.testing.assert_allclose(inp.boxes, [[0.0, 0.0, 341.0, 256.0]], atol=1e-4)
    assert isinstance(build_clip_augmentation(cfg, is_train=False)[0], ShortSideScale)
    cfg.INPUT.COLOR_JITTER = 0.4
    assert isinstance(build_clip_augmentation(cfg, True)[-1], RandomClipColorJitter)


def test_color_jitter_same_for_every_frame_and_by_hand(monkeypatch):
    frame = _clip(t=1)[0]
    clip = np.stack([frame, frame])
    monkeypatch.setattr(np.random, "permutation", lambda n: np.array([0]))  # brightness only
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi: 0.25)
    inp = ClipAugInput(clip)
    RandomClipColorJitter(0.4)(inp)
    expected = np.clip(frame.astype(np.float32) * 1.25, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(inp.clip[0], expected)
    np.testing.assert_array_equal(inp.clip[1], expected)


@pytest.mark.parametrize("kind", [1, 2])
def test_color_jitter_contrast_and_saturation(monkeypatch, kind):
    clip = _clip(t=2).astype(np.float32)
    monkeypatch.setattr(np.random, "permutation", lambda n: np.array([kind]))
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi: -0.5)  # factor 0.5
    tfm = RandomClipColorJitter(0.5).get_transform(clip.astype(np.uint8))
    gray = clip @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    src = gray.mean(axis=(1, 2))[:, None, None, None] if kind == 1 else gray[..., None]
    out = apply_transform_to_clip(tfm, clip.astype(np.uint8))
    expected = np.clip(0.5 * src + 0.5 * clip, 0, 255).astype(np.uint8)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_resized_clip_is_stored_channel_first():
    clip = _clip(t=4, h=40, w=60)
    out = ClipResizeTransform(40, 60, 30, 45).apply_image(clip)
    assert out.shape == (4, 30, 45, 3)
    assert out.transpose(3, 0, 1, 2).flags.c_contiguous  # the model's (3, T, H, W) without a copy
    for t in range(4):
        np.testing.assert_array_equal(
            out[t], cv2.resize(clip[t], (45, 30), interpolation=cv2.INTER_LINEAR)
        )
    # a second resize, crop and flip work on that layout as on any array
    again = ClipResizeTransform(30, 45, 20, 30).apply_image(out)
    np.testing.assert_array_equal(
        again[1], cv2.resize(np.ascontiguousarray(out[1]), (30, 20), interpolation=cv2.INTER_LINEAR)
    )
    tfm = TransformList([CropTransform(2, 3, 20, 10), HFlipTransform(20)])
    np.testing.assert_array_equal(apply_transform_to_clip(tfm, out), out[:, 3:13, 2:22][:, :, ::-1])


def test_flip_of_a_channel_first_clip_stays_channel_first():
    clip = _clip(t=3, h=40, w=60)
    resized = ClipResizeTransform(40, 60, 30, 45).apply_image(clip)
    cropped = CropTransform(5, 2, 30, 20).apply_image(resized)
    out = apply_transform_to_clip(HFlipTransform(30), cropped)
    np.testing.assert_array_equal(out, cropped[:, :, ::-1])
    assert out.transpose(3, 0, 1, 2).flags.c_contiguous
    # an ordinary (T, H, W, C) array is flipped as before
    np.testing.assert_array_equal(
        apply_transform_to_clip(HFlipTransform(60), clip), clip[:, :, ::-1]
    )


@pytest.mark.parametrize(
    "steps",
    [
        ("resize", "crop", "flip"),
        ("resize", "crop", "noop"),
        ("resize", "crop"),
        ("resize", "flip"),
        ("resize",),
        ("resize", "crop", "flip", "crop"),  # a second crop: applied after the pending three
        ("crop", "resize", "crop", "flip"),
    ],
)
def test_deferred_resize_crop_flip_equals_one_by_one(steps):
    # ClipAugInput defers a resize and the crop / flip after it: the pixels, the boxes and the
    # first frame the augmentations look at are exactly those of applying each transform in turn.
    clip = _clip(t=4, h=36, w=64)
    boxes = np.array([[10.0, 5.0, 30.0, 25.0], [0.0, 0.0, 63.0, 35.0]], dtype=np.float32)
    inp = ClipAugInput(clip, boxes=boxes.copy())
    ref_clip, ref_boxes = clip, boxes.copy()
    for step in steps:
        h, w = ref_clip.shape[1:3]
        assert inp.image.shape == (h, w, 3)
        np.testing.assert_array_equal(inp.image, ref_clip[0])
        if step == "resize":
            tfm = ClipResizeTransform(h, w, 45, 80)
        elif step == "crop":
            tfm = CropTransform(x0=7, y0=3, w=min(30, w - 7), h=min(24, h - 3))
        elif step == "flip":
            tfm = HFlipTransform(w)
        else:
            tfm = NoOpTransform()
        inp.transform(tfm)
        ref_clip = apply_transform_to_clip(tfm, ref_clip)
        ref_boxes = tfm.apply_box(ref_boxes)
    np.testing.assert_array_equal(inp.image, ref_clip[0])
    np.testing.assert_array_equal(inp.clip, ref_clip)
    np.testing.assert_allclose(inp.boxes, ref_boxes)
    if steps[-2:] != ("flip", "crop"):  # (a crop after the flip is a view of the flipped clip)
        # channel-first storage: the model's (3, T, H, W) tensor is a view, no copy
        assert inp.clip.transpose(3, 0, 1, 2).flags.c_contiguous


def test_deferred_resize_crop_by_hand():
    # resize 2x2 -> 4x4 (hand values of test_cv2_bilinear_resize_by_hand), crop the 2x2 centre, flip
    img = np.array([[0, 160], [80, 240]], dtype=np.uint8)[:, :, None].repeat(3, axis=2)
    inp = ClipAugInput(img[None].copy())
    inp.transform(ClipResizeTransform(2, 2, 4, 4))
    inp.transform(CropTransform(x0=1, y0=1, w=2, h=2))
    inp.transform(HFlipTransform(2))
    np.testing.assert_array_equal(inp.clip[0, :, :, 0], [[140, 60], [180, 100]])


def test_augmentation_list_with_deferred_resize_same_as_eager():
    # the train recipe through AugmentationList: the same draws for the same seed, the same
    # pixels and boxes as applying each drawn transform to the clip at once
    cfg = get_ava_cfg()
    clip = _clip(t=3, h=72, w=128)
    cfg.INPUT.TRAIN_JITTER_SCALES = (48, 64)
    cfg.INPUT.TRAIN_CROP_SIZE = 40
    augs = AugmentationList(build_clip_augmentation(cfg, is_train=True))
    boxes = np.array([[10.0, 5.0, 60.0, 50.0]], dtype=np.float32)

    class EagerInput(ClipAugInput):  # every transform applied at once (the behaviour before)
        def _defer(self, tfm):
            return False

    for seed in range(6):
        np.random.seed(seed)
        inp = ClipAugInput(clip, boxes=boxes.copy())
        tfms = augs(inp)
        np.random.seed(seed)
        eager = EagerInput(clip, boxes=boxes.copy())
        eager_tfms = augs(eager)
        assert [vars(t) for t in tfms.transforms] == [vars(t) for t in eager_tfms.transforms]
        ref_clip = clip
        for t in tfms.transforms:
            ref_clip = apply_transform_to_clip(t, ref_clip)
        assert inp.clip.shape == (3, 40, 40, 3)
        np.testing.assert_array_equal(inp.clip, ref_clip)
        np.testing.assert_array_equal(inp.clip, eager.clip)
        np.testing.assert_allclose(inp.boxes, tfms.apply_box(boxes.copy()))
        np.testing.assert_array_equal(inp.boxes, eager.boxes)
