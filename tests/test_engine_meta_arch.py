"""AVADetector against stub backbone/head registered here (the interface of docs/interfaces.md)."""

from __future__ import annotations

import pytest
import torch
from detectron2.layers import ROIAlign, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, ROI_HEADS_REGISTRY, Backbone, build_model
from detectron2.structures import Boxes, Instances
from torch import nn

from ava_detector.ava.modeling.detector import (
    batch_clips,
    rescale_instances,
)
from ava_detector.config.defaults import get_ava_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


class _StubBackbone(Backbone):
    """Per pathway: a 3D conv of stride (1, 8, 8) (so size_divisibility = 8)."""

    pathways = ("slow", "fast")

    @property
    def size_divisibility(self) -> int:
        return 8

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleDict(
            {p: nn.Conv3d(3, 4, (1, 8, 8), (1, 8, 8)) for p in self.pathways}
        )
        self.seen: dict[str, torch.Tensor] = {}

    def forward(self, clips):
        self.seen = clips
        return {p: self.convs[p](clips[p]) for p in self.pathways}

    def output_shape(self):
        return {p: ShapeSpec(channels=4, stride=8) for p in self.pathways}


@BACKBONE_REGISTRY.register()
def _engine_stub_backbone(cfg, input_shape):
    return _StubBackbone()


@ROI_HEADS_REGISTRY.register()
class _EngineStubHead(nn.Module):
    """Temporal mean -> RoIAlign 2x2 -> max -> concat -> linear 80; BCE in training."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        self.names = sorted(input_shape)
        self.pool = ROIAlign((2, 2), 1 / 8, 0, aligned=True)
        self.fc = nn.Linear(4 * len(self.names), 80)
        self.seen: list[Instances] = []

    def forward_boxes(self, features, rois):
        feats = [self.pool(features[n].mean(2), rois).amax((2, 3)) for n in self.names]
        return self.fc(torch.cat(feats, 1))

    def forward(self, features, proposals):
        self.seen = proposals
        rois = torch.cat(
            [
                torch.cat([torch.full((len(p), 1), float(i)), p.proposal_boxes.tensor], 1)
                for i, p in enumerate(proposals)
            ]
        )
        logits = self.forward_boxes(features, rois)
        if self.training:
            targets = torch.cat([p.gt_actions for p in proposals])
            return {"loss_action": nn.functional.binary_cross_entropy_with_logits(logits, targets)}
        out, start = [], 0
        for p in proposals:
            inst = Instances(
                p.image_size,
                pred_boxes=p.proposal_boxes,
                scores=logits[start : start + len(p)].sigmoid(),
            )
            out.append(inst)
            start += len(p)
        return out


def _cfg():
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = "_engine_stub_backbone"
    cfg.MODEL.ROI_HEADS.NAME = "_EngineStubHead"
    cfg.MODEL.PIXEL_MEAN = [100.0, 100.0, 100.0]
    cfg.MODEL.PIXEL_STD = [50.0, 50.0, 50.0]
    cfg.INPUT.SIZE_DIVISIBILITY = 4
    return cfg


def _sample(h, w, boxes, labels, height, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    inst = Instances((h, w))
    inst.proposal_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.gt_actions = torch.zeros(len(boxes), 80)
    for i, ids in enumerate(labels):
        for a in ids:
            inst.gt_actions[i, a - 1] = 1.0
    return {
        "clips": {
            "slow": torch.randint(0, 256, (3, 2, h, w), generator=g, dtype=torch.uint8),
            "fast": torch.randint(0, 256, (3, 8, h, w), generator=g, dtype=torch.uint8),
        },
        "instances": inst,
        "height": height,
        "width": width,
        "image_id": f"v,{seed:04d}",
    }


def test_batch_clips_normalises_then_pads_to_divisibility():
    a = torch.full((3, 2, 5, 7), 200, dtype=torch.uint8)
    b = torch.full((3, 2, 9, 3), 50, dtype=torch.uint8)
    batch, sizes = batch_clips([a, b], torch.tensor([100.0] * 3), torch.tensor([50.0] * 3), 8)
    assert batch.shape == (2, 3, 2, 16, 8)
    assert sizes == [(5, 7), (9, 3)]
    assert batch[0, :, :, :5, :7].eq(2.0).all() and batch[0, :, :, 5:].eq(0).all()
    assert batch[1, :, :, :9, :3].eq(-1.0).all() and batch[1, :, :, :, 3:].eq(0).all()


def test_rescale_keeps_every_box_and_maps_to_original_size():
    pred = Instances(
        (10, 20),
        pred_boxes=Boxes(torch.tensor([[2.0, 1.0, 10.0, 9.0], [5, 5, 5, 5]])),
        scores=torch.rand(2, 80),
    )
    out = rescale_instances(pred, 40, 60)
    assert out.image_size == (40, 60)
    assert torch.equal(
        out.pred_boxes.tensor, torch.tensor([[6.0, 4.0, 30.0, 36.0], [15, 20, 15, 20]])
    )
    assert torch.equal(out.scores, pred.scores)


def test_training_forward_backward_shapes():
    torch.manual_seed(0)
    model = build_model(_cfg())
    model.train()
    batch = [
        _sample(20, 28, [[0, 0, 10, 10], [4, 4, 20, 18]], [[1], [5, 80]], 40, 56),
        _sample(24, 12, [[1, 2, 11, 20]], [[12]], 48, 24, seed=1),
    ]
    losses = model(batch)
    assert set(losses) == {"loss_action"} and losses["loss_action"].dim() == 0
    losses["loss_action"].backward()
    assert model.backbone.convs["fast"].weight.grad is not None
    # padded to max (24, 28) rounded up to 8: (24, 32); T differs per pathway
    assert model.backbone.seen["slow"].shape == (2, 3, 2, 24, 32)
    assert model.backbone.seen["fast"].shape == (2, 3, 8, 24, 32)
    assert model.backbone.seen["fast"].dtype == torch.float32


def test_inference_returns_scores_per_box_in_original_pixels():
    model = build_model(_cfg())
    model.eval()
    batch = [_sample(20, 28, [[0, 0, 10, 10], [4, 4, 20, 18], [7, 7, 7, 9]], [[1], [], []], 40, 56)]
    with torch.no_grad():
        (out,) = model(batch)
    inst = out["instances"]
    assert inst.image_size == (40, 56)
    assert inst.scores.shape == (3, 80)
    assert torch.allclose(
        inst.pred_boxes.tensor, torch.tensor([[0.0, 0, 20, 20], [8, 8, 40, 36], [14, 14, 14, 18]])
    )


def test_mismatched_instance_size_is_an_error():
    model = build_model(_cfg())
    bad = _sample(20, 28, [[0, 0, 10, 10]], [[1]], 40, 56)
    bad["instances"] = Instances(
        (21, 28), proposal_boxes=Boxes(torch.zeros(1, 4)), gt_actions=torch.zeros(1, 80)
    )
    with pytest.raises(ValueError, match="image_size"):
        model([bad])


def test_fixed_batch_is_overfit():
    torch.manual_seed(0)
    model = build_model(_cfg())
    model.train()
    batch = [_sample(16, 16, [[0, 0, 8, 8], [8, 8, 16, 16]], [[3], [7, 9]], 16, 16)]
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    first = None
    for _ in range(150):
        loss = model(batch)["loss_action"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 10


def test_tiny_slowfast_overfits_a_fixed_batch():
    """The real backbone + action head: BCE on a fixed batch falls by 10x."""
    torch.manual_seed(0)
    cfg = get_ava_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP = 8
    cfg.MODEL.ROI_ACTION_HEAD.POOLER_RESOLUTION = 2
    cfg.MODEL.ROI_ACTION_HEAD.DROPOUT = 0.0
    model = build_model(cfg)
    model.train()
    batch = [
        _sample(32, 32, [[0, 0, 16, 32], [16, 0, 32, 32]], [[3], [7, 9]], 32, 32),
        _sample(32, 32, [[0, 0, 32, 16]], [[12]], 32, 32, seed=1),
    ]
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    losses = []
    for _ in range(60):
        loss = model(batch)["loss_action"]
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0] / 10, losses[::10]
