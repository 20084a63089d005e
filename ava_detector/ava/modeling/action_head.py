"""The AVA action head: per-pathway temporal average pool -> RoIAlign -> spatial max pool -> concat -> linear."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode, configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.poolers import ROIPooler, convert_boxes_to_pooler_format
from detectron2.structures import Instances
from torch import nn

__all__ = ["AVAActionHead"]


@ROI_HEADS_REGISTRY.register()
class AVAActionHead(nn.Module):
    """Per-box action scores from SlowFast features (the 3D-extended RoI of the keyframe box).

    Each pathway is averaged over all of T, RoIAligned (resolution x resolution at 1/stride, the
    ``aligned`` half-pixel flag configurable) and max pooled; the pathways are concatenated in
    backbone order (slow, fast), then dropout and a linear layer give one logit per action.
    Training returns ``{"loss_action"}`` (BCE with logits, mean over boxes x classes against
    ``gt_actions``); inference returns Instances with ``pred_boxes`` and ``scores`` (K, C).

    Args:
        input_shape: the backbone's output per pathway (``{"slow": ShapeSpec, "fast": ShapeSpec}``,
            features (N, C_p, T_p, H, W)); all pathways must share one spatial stride.
        num_classes: the number of actions C (one logit each).
        pooler_resolution: RoIAlign output size (``pooler_resolution`` x ``pooler_resolution``).
        sampling_ratio: RoIAlign sampling points per bin (0: adaptive).
        aligned: the half-pixel-corrected RoIAlign (``ROIAlignV2``) instead of ``ROIAlign``.
        dropout: dropout before the linear layer (0: none).
        activation: "sigmoid" (multi-label, AVA) or "softmax" turning logits into ``scores``.
        init_std: standard deviation of the linear layer's initial weights (bias 0).
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: dict[str, ShapeSpec],
        num_classes: int,
        pooler_resolution: int = 7,
        sampling_ratio: int = 0,
        aligned: bool = True,
        dropout: float = 0.5,
        activation: str = "sigmoid",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(
                f"MODEL.ROI_ACTION_HEAD.ACTIVATION must be sigmoid or softmax, got {activation!r}"
            )
        self.in_features = tuple(input_shape)
        strides = {input_shape[f].stride for f in self.in_features}
        if len(strides) != 1:
            raise ValueError(f"all pathways must share one spatial stride, got {strides}")
        self.pooler = ROIPooler(
            output_size=pooler_resolution,
            scales=(1.0 / strides.pop(),),
            sampling_ratio=sampling_ratio,
            pooler_type="ROIAlignV2" if aligned else "ROIAlign",
        )
        self.activation = activation
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        in_channels = sum(input_shape[f].channels for f in self.in_features)
        self.predictor = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.predictor.weight, std=init_std)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        h = cfg.MODEL.ROI_ACTION_HEAD
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "pooler_resolution": h.POOLER_RESOLUTION,
            "sampling_ratio": h.POOLER_SAMPLING_RATIO,
            "aligned": h.ALIGNED,
            "dropout": h.DROPOUT,
            "activation": h.ACTIVATION,
            "init_std": h.INIT_STD,
        }

    def forward_boxes(self, features: dict[str, torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        """Logits (R, C) for ``rois`` (R, 5) = [batch index, x1, y1, x2, y2] in input pixels."""
        roi_align = self.pooler.level_poolers[0]
        pooled = []
        for f in self.in_features:
            x = features[f].mean(dim=2)
            x = roi_align(x, rois.to(x.dtype))
            pooled.append(F.adaptive_max_pool2d(x, 1).flatten(1))
        return self.predictor(self.dropout(cat(pooled, dim=1)))

    def predict_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Scores from logits: sigmoid (multi-label) or softmax over classes."""
        return logits.sigmoid() if self.activation == "sigmoid" else logits.softmax(dim=1)

    def forward(
        self, features: dict[str, torch.Tensor], proposals: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        rois = convert_boxes_to_pooler_format([p.proposal_boxes for p in proposals])
        logits = self.forward_boxes(features, rois)
        if self.training:
            if logits.numel() == 0:
                return {"loss_action": logits.sum() + 0.0 * sum(p.sum() for p in self.parameters())}
            targets = cat([p.gt_actions for p in proposals], dim=0).to(logits.dtype)
            return {
                "loss_action": F.binary_cross_entropy_with_logits(logits, targets, reduction="mean")
            }
        scores = self.predict_probs(logits).split([len(p) for p in proposals])
        results = []
        for p, s in zip(proposals, scores):
            r = Instances(p.image_size)
            r.pred_boxes = p.proposal_boxes
            r.scores = s
            results.append(r)
        return results
