"""VideoClassifier: PySlowFast parity through the meta-architecture path, loss, test-time outputs."""

from __future__ import annotations

import pytest
import torch
from detectron2.modeling import build_model

from ava_detector.checkpoint.checkpointer import VideoCheckpointer
from ava_detector.checkpoint.safe_load import load_checkpoint_file
from ava_detector.checkpoint.verify import build_reference_cfg
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.kinetics.modeling.classifier import VideoClassifier

REF = "pyslowfast_reference/kinetics_slowfast_r50_8x8_w8"


def tiny_cfg(num_classes: int = 5):
    cfg = get_ava_cfg()
    cfg.merge_from_file("configs/kinetics/Base-SlowFast-Kinetics.yaml")
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SLOWFAST.WIDTH_PER_GROUP, cfg.MODEL.SLOWFAST.ALPHA = 8, 4
    cfg.MODEL.CLS_HEAD.NUM_CLASSES = num_classes
    cfg.INPUT.NUM_FRAMES, cfg.INPUT.TRAIN_CROP_SIZE = 8, 64
    return cfg


def test_pyslowfast_kinetics_reference_through_video_classifier(shared_dir):
    torch.set_num_threads(1)
    base = shared_dir / REF
    cfg, detection = build_reference_cfg(load_checkpoint_file(f"{base}.pyth")["cfg"])
    assert not detection
    # The reference input is (u8 - 128) / 64: the classifier's own normalisation does exactly that.
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD, cfg.MODEL.DEVICE = [128.0] * 3, [64.0] * 3, "cpu"
    model = build_model(cfg).eval()
    assert isinstance(model, VideoClassifier)
    VideoCheckpointer(model).load(f"{base}.pyth")
    io = torch.load(f"{base}_io.pt", weights_only=True)
    clip = torch.load(base.parent / io["clip_ref"]["file"], weights_only=True)
    inputs = [{"clips": {"slow": clip["slow_u8"][0], "fast": clip["fast_u8"][0]}}]
    with torch.no_grad():
        probs = model(inputs)[0]["scores"]
        logits = model.logits(inputs)
    assert (probs - io["outputs"][0]).abs().max().item() < 1e-4
    assert (logits - io["logits"]).abs().max().item() < 1e-3
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_training_loss_is_cross_entropy_and_skipped_views_get_no_scores():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(tiny_cfg())
    model.cls_head.dropout = torch.nn.Identity()
    clip = {
        "slow": torch.randint(0, 255, (3, 2, 64, 64), dtype=torch.uint8),
        "fast": torch.randint(0, 255, (3, 8, 64, 64), dtype=torch.uint8),
    }
    batch = [{"clips": clip, "label": 3}, {"clips": clip, "label": 1}]
    loss = model(batch)["loss_cls"]
    logits = model.logits(batch)
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([3, 1]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    model.eval()
    with torch.no_grad():
        out = model([batch[0], {"video_id": "bad", "skip_reason": "cannot decode"}])
        eval_logits = model.logits(batch[:1])
    assert set(out[0]) == {"scores"} and out[0]["scores"].shape == (5,)
    assert out[1] == {}
    assert torch.allclose(out[0]["scores"], eval_logits[0].softmax(-1), atol=1e-6)
