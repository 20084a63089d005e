"""Parity check against a PySlowFast reference in the ../shared/pyslowfast_reference layout.

``NAME.pyth`` (or a Caffe2 ``.pkl``), ``NAME_io.pt`` (boxes, outputs, logits, clip reference) and the
clip file it names. Our model is built from the translated config, loaded through
VideoCheckpointer, and run on the stored input: AVA models through backbone + AVAActionHead
.forward_boxes on the stored boxes, Kinetics models through backbone + KineticsHead.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from detectron2.config import CfgNode
from detectron2.modeling import build_backbone, build_roi_heads
from torch import nn

from ava_detector.checkpoint.checkpointer import VideoCheckpointer
from ava_detector.checkpoint.pyslowfast_config import (
    is_detection_cfg,
    translate_pyslowfast_cfg,
)
from ava_detector.checkpoint.safe_load import load_checkpoint_file
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.modeling.cls_heads import build_cls_head

__all__ = ["ReferenceModel", "build_reference_cfg", "verify_reference", "REFERENCE_TRANSFORM"]

# The input transform of the reference layout: uint8 clip -> float32 model input, exact in float32.
REFERENCE_TRANSFORM = "float32 = (uint8.float() - 128.0) / 64.0"


class ReferenceModel(nn.Module):
    """Backbone + head with the detector / classifier attribute names (``backbone``, ``roi_heads`` or
    ``cls_head``) so checkpoints map exactly as they do for the full meta-architectures."""

    def __init__(self, cfg: CfgNode, detection: bool) -> None:
        super().__init__()
        self.backbone = build_backbone(cfg)
        shapes = self.backbone.output_shape()
        self.detection = detection
        if detection:
            self.roi_heads = build_roi_heads(cfg, shapes)
        else:
            self.cls_head = build_cls_head(cfg, shapes)

    def forward(
        self, clips: dict[str, torch.Tensor], rois: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(outputs, logits): probabilities and logits per box (AVA) or per clip (Kinetics)."""
        features = self.backbone(clips)
        if self.detection:
            logits = self.roi_heads.forward_boxes(features, rois)
            return self.roi_heads.predict_probs(logits), logits
        logits = self.cls_head.position_logits(features).mean(dim=(1, 2, 3))
        return self.cls_head(features), logits


def build_reference_cfg(pyslowfast_yaml: str) -> tuple[CfgNode, bool]:
    """Our config for a PySlowFast config text; returns (cfg, is_detection)."""
    psf = yaml.safe_load(pyslowfast_yaml)
    cfg = get_ava_cfg()
    detection = is_detection_cfg(psf)
    if not detection:
        cfg.MODEL.META_ARCHITECTURE = "VideoClassifier"
    for key, value in translate_pyslowfast_cfg(psf).items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg, detection


def verify_reference(
    prefix: str, caffe2: str | None = None, pyslowfast_config: str | None = None
) -> dict[str, float]:
    """Max abs differences {"outputs", "logits"} of our model vs the reference ``prefix`` (DIR/NAME)."""
    base = Path(prefix)
    io = torch.load(f"{base}_io.pt", map_location="cpu", weights_only=True)
    if not str(io.get("input_transform", REFERENCE_TRANSFORM)).startswith(REFERENCE_TRANSFORM):
        raise ValueError(f"{base}_io.pt: unsupported input_transform {io.get('input_transform')!r}")
    weights = caffe2 or f"{base}.pyth"
    if pyslowfast_config is not None:
        cfg_text = Path(pyslowfast_config).read_text()
    else:
        cfg_text = load_checkpoint_file(f"{base}.pyth")["cfg"]
    cfg, detection = build_reference_cfg(cfg_text)
    model = ReferenceModel(cfg, detection).eval()
    VideoCheckpointer(model).load(weights)
    clip = torch.load(base.parent / io["clip_ref"]["file"], map_location="cpu", weights_only=True)
    clips = {p: (clip[f"{p}_u8"].float() - 128.0) / 64.0 for p in model.backbone.pathways}
    with torch.no_grad():
        outputs, logits = model(clips, io.get("boxes"))
    return {
        "outputs": (outputs - io["outputs"]).abs().max().item(),
        "logits": (logits - io["logits"]).abs().max().item(),
    }
