"""INPUT.DECODE_DEVICE's clip operations (``device_clip``): resize within 1 grey level of cv2.resize
INTER_LINEAR (hand case and sizes), crop / flip exact, colour jitter with the CPU jitter's draws,
Detectron2 transforms turned into device ops, the shape-only AugInput. Run on the CPU."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from detectron2.data.transforms import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    ResizeTransform,
    TransformList,
)

from ava_detector.data.transforms.augmentation import RandomClipColorJitter
from ava_detector.data.transforms.clip_input import apply_transform_to_clip
from ava_detector.data.transforms.device_clip import (
    ColorJitter,
    Crop,
    DeviceColorJitter,
    HFlip,
    Resize,
    ShapeAugInput,
    apply_clip_ops,
    clip_ops_from_transform,
    resize_frames,
)
from ava_detector.data.transforms.resize import ClipResizeTransform

pytestmark = pytest.mark.usefixtures("one_thread")


def test_resize_hand_computed():
    # 1x2 -> 1x4, half-pixel centres: source x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    # clamped to [0, 1] -> 0, 25, 75, 100; one row -> the same for every output row.
    frames = torch.tensor([[0, 100]], dtype=torch.uint8).view(1, 1, 1, 2)
    out = resize_frames(frames, (3, 4))
    assert out.dtype == torch.uint8
    assert out[0, 0].tolist() == [[0, 25, 75, 100]] * 3
    ref = cv2.resize(np.array([[0, 100]], np.uint8), (4, 3), interpolation=cv2.INTER_LINEAR)
    assert ref.tolist() == out[0, 0].tolist()


@pytest.mark.parametrize(
    "src,dst",
    [
        ((96, 128), (256, 341)),
        ((360, 480), (256, 341)),
        ((200, 300), (100, 150)),
        ((113, 77), (57, 39)),
    ],
)
def test_resize_matches_cv2_inter_linear_within_one_level(src, dst):
    img = np.random.default_rng(1).integers(0, 256, src + (3,), dtype=np.uint8)
    ref = cv2.resize(img, dst[::-1], interpolation=cv2.INTER_LINEAR)
    out = (
        resize_frames(torch.from_numpy(img).permute(2, 0, 1)[None], dst)[0].permute(1, 2, 0).numpy()
    )
    diff = np.abs(out.astype(int) - ref)
    assert diff.max() <= 1  # OpenCV rounds 11-bit fixed-point weights, we round float32
    assert (diff == 0).mean() > 0.8


def test_crop_flip_exact_and_ops_from_detectron2_transforms():
    clip = np.random.default_rng(2).integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    tfm = TransformList([CropTransform(5, 2, 16, 12), HFlipTransform(16)])
    ops = clip_ops_from_transform(tfm)
    assert ops == [Crop(5, 2, 16, 12), HFlip()]
    ref = apply_transform_to_clip(tfm, clip)
    out = (
        apply_clip_ops(torch.from_numpy(clip).permute(0, 3, 1, 2), ops).permute(0, 2, 3, 1).numpy()
    )
    assert np.array_equal(out, ref)
    with pytest.raises(TypeError, match="BlendTransform has no device implementation"):
        clip_ops_from_transform(BlendTransform(0.0, 0.5, 0.5))
    assert clip_ops_from_transform(ClipResizeTransform(20, 30, 40, 60)) == [Resize(40, 60)]
    assert clip_ops_from_transform(ClipResizeTransform(20, 30, 20, 30)) == []
    with pytest.raises(TypeError, match="ResizeTransform has no device implementation"):
        clip_ops_from_transform(ResizeTransform(20, 30, 40, 60))  # PIL: antialiased
    with pytest.raises(TypeError, match="ClipResizeTransform has no device implementation"):
        clip_ops_from_transform(ClipResizeTransform(20, 30, 40, 60, cv2.INTER_NEAREST))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_color_jitter_matches_the_cpu_jitter(seed):
    clip = np.random.default_rng(seed).integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    np.random.seed(seed)
    tfm = RandomClipColorJitter(0.4).get_transform(clip)
    ref = apply_transform_to_clip(tfm, clip)
    np.random.seed(seed)
    steps = DeviceColorJitter(0.4).get_transform(clip[0]).steps  # the same draws, no pixels
    assert sorted(k for k, _ in steps) == [0, 1, 2]
    assert [a for _, a in steps] == pytest.approx([t.dst_weight for t in tfm.transforms], abs=0)
    out = apply_clip_ops(torch.from_numpy(clip).permute(0, 3, 1, 2), [ColorJitter(steps)])
    diff = np.abs(out.permute(0, 2, 3, 1).numpy().astype(int) - ref)
    assert diff.max() <= 1  # float sums in another order can land on the other side of an integer
    assert (diff == 0).mean() > 0.99


def test_shape_aug_input_follows_transforms_without_pixels():
    inp = ShapeAugInput(96, 128, boxes=np.array([[32.0, 48.0, 64.0, 96.0]], dtype=np.float32))
    assert inp.image.shape == (96, 128, 3) and inp.image.strides[:2] == (0, 0)  # no memory
    inp.transform(CropTransform(10, 6, 64, 80))
    inp.transform(HFlipTransform(64))
    assert inp.image_size == (80, 64) and inp.ops == [Crop(10, 6, 64, 80), HFlip()]
    np.testing.assert_allclose(inp.boxes, [[64 - 54, 42, 64 - 22, 90]])
