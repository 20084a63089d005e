"""AVA action head (per-box outputs, loss, RoIAlign alignment) and the Kinetics head."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.structures import Boxes, Instances
from torchvision.ops import roi_align

from ava_detector.ava.modeling.action_head import AVAActionHead
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.modeling.head import KineticsHead
from ava_detector.modeling.cls_heads import build_cls_head

SHAPES = {"slow": ShapeSpec(channels=6, stride=16), "fast": ShapeSpec(channels=2, stride=16)}


def _features(n=2, h=4, w=5):
    g = torch.Generator().manual_seed(0)
    return {
        "slow": torch.randn(n, 6, 2, h, w, generator=g),
        "fast": torch.randn(n, 2, 8, h, w, generator=g),
    }


def _head(**kw) -> AVAActionHead:
    torch.manual_seed(0)
    args = dict(input_shape=SHAPES, num_classes=5, dropout=0.0)
    args.update(kw)
    return AVAActionHead(**args)


@pytest.mark.parametrize("aligned", [True, False])
def test_forward_boxes_matches_hand_pipeline(aligned):
    head = _head(aligned=aligned).eval()
    feats = _features()
    rois = torch.tensor(
        [[0, 3.0, 5.0, 40.0, 60.0], [1, 0.0, 0.0, 79.0, 63.0], [0, 10.5, 2.25, 20.0, 30.0]]
    )
    pooled = [
        roi_align(
            feats[k].mean(2), rois, (7, 7), spatial_scale=1 / 16, sampling_ratio=0, aligned=aligned
        ).amax(dim=(2, 3))
        for k in ("slow", "fast")
    ]
    expected = torch.cat(pooled, 1) @ head.predictor.weight.T + head.predictor.bias
    torch.testing.assert_close(head.forward_boxes(feats, rois), expected)


def test_inference_one_row_per_box_and_training_bce():
    head = _head()
    feats = _features()
    props = []
    for i, k in enumerate([3, 1]):
        inst = Instances((64, 80))
        inst.proposal_boxes = Boxes(torch.tensor([[0.0, 0.0, 30.0, 40.0]] * k) + i)
        inst.gt_actions = (torch.arange(k * 5).reshape(k, 5) % 3 == 0).float()
        props.append(inst)
    head.eval()
    res = head(feats, props)
    assert [len(r) for r in res] == [3, 1]
    assert res[0].scores.shape == (3, 5) and torch.all((res[0].scores > 0) & (res[0].scores < 1))
    assert torch.equal(res[1].pred_boxes.tensor, props[1].proposal_boxes.tensor)
    head.train()
    loss = head(feats, props)["loss_action"]
    rois = torch.tensor([[0, 0, 0, 30, 40]] * 3 + [[1, 1, 1, 31, 41]], dtype=torch.float32)
    logits = head.forward_boxes(feats, rois)
    targets = torch.cat([p.gt_actions for p in props])
    manual = -(targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(loss, manual)
    loss.backward()
    assert head.predictor.weight.grad is not None


def test_registry_and_channels_from_cfg():
    cfg = get_ava_cfg()
    head = build_roi_heads(
        cfg,
        {"slow": ShapeSpec(channels=2048, stride=16), "fast": ShapeSpec(channels=256, stride=16)},
    )
    assert isinstance(head, AVAActionHead)
    assert head.predictor.in_features == 2304 and head.predictor.out_features == 80
    assert abs(head.predictor.weight.std().item() - 0.01) < 0.001


def test_kinetics_head_global_pool_and_fully_convolutional():
    torch.manual_seed(0)
    shapes = {"slow": ShapeSpec(channels=6, stride=32), "fast": ShapeSpec(channels=2, stride=32)}
    head = KineticsHead(
        shapes, num_classes=4, pool_sizes={"slow": (2, 2, 2), "fast": (8, 2, 2)}, dropout=0.0
    ).eval()
    feats = _features(n=1, h=2, w=2)
    pooled = torch.cat([feats["slow"].mean((2, 3, 4)), feats["fast"].mean((2, 3, 4))], 1)
    logits = head.predictor(pooled)
    torch.testing.assert_close(head(feats), logits.softmax(1))
    # Larger test input (3x3 map): softmax at each of the 2x2 window positions, then averaged.
    big = _features(n=1, h=3, w=3)
    probs = []
    for i in range(2):
        for j in range(2):
            crop = {k: v[:, :, :, i : i + 2, j : j + 2] for k, v in big.items()}
            p = torch.cat([crop["slow"].mean((2, 3, 4)), crop["fast"].mean((2, 3, 4))], 1)
            probs.append(head.predictor(p).softmax(1))
    torch.testing.assert_close(head(big), torch.stack(probs).mean(0))


def test_build_cls_head_pool_sizes():
    cfg = get_ava_cfg()
    cfg.INPUT.NUM_FRAMES, cfg.MODEL.SLOWFAST.ALPHA, cfg.INPUT.TRAIN_CROP_SIZE = 32, 4, 224
    head = build_cls_head(
        cfg,
        {"slow": ShapeSpec(channels=2048, stride=32), "fast": ShapeSpec(channels=256, stride=32)},
    )
    assert head.pool_sizes == {"slow": (8, 7, 7), "fast": (32, 7, 7)}
    assert head.predictor.out_features == 400
