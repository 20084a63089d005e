"""FLOPs and parameters of the classification variant (backbone + Kinetics head) for one clip.

fvcore's FlopCountAnalysis counts one multiply-add as one FLOP, as the SlowFast paper does. Only
convolutions, linear layers and matrix products (non-local affinities) are counted: normalisation,
pooling and activations are not part of the paper's figures.
"""

from __future__ import annotations

import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_backbone
from fvcore.nn import FlopCountAnalysis, parameter_count
from torch import nn

from ava_detector.config.pathways import pathway_frames
from ava_detector.modeling.cls_heads import build_cls_head

__all__ = ["VideoClassifierCore", "clip_shapes", "count_flops"]

_COUNTED = ("conv", "addmm", "linear", "matmul", "bmm", "einsum")


class VideoClassifierCore(nn.Module):
    """Backbone + KineticsHead, with the attribute names a video classifier uses (``backbone``, ``cls_head``)."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        self.backbone = build_backbone(cfg)
        self.cls_head = build_cls_head(cfg, self.backbone.output_shape())

    def forward(self, clips: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.cls_head(self.backbone(clips))


def clip_shapes(cfg: CfgNode, size: int) -> dict[str, tuple[int, int, int, int, int]]:
    """Input shapes (1, 3, T, size, size) per pathway: Fast gets NUM_FRAMES, Slow NUM_FRAMES / ALPHA
    (all NUM_FRAMES for a Slow-only model)."""
    frames = pathway_frames(
        cfg.MODEL.SLOWFAST.ARCH,
        cfg.INPUT.NUM_FRAMES,
        cfg.MODEL.SLOWFAST.ALPHA,
        slow_from_fast=False,
    )
    return {p: (1, 3, t, size, size) for p, t in frames.items()}


def count_flops(cfg: CfgNode, size: int = 224) -> tuple[float, int]:
    """(GFLOPs, parameters) of the classification model of ``cfg`` on one ``size``x``size`` clip."""
    model = VideoClassifierCore(cfg).eval()
    clips = {p: torch.zeros(s) for p, s in clip_shapes(cfg, size).items()}
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, (clips,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    flops = sum(v for k, v in by_op.items() if k in _COUNTED)
    return flops / 1e9, parameter_count(model)[""]
