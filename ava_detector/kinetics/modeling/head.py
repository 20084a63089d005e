"""The Kinetics classification head: per-pathway average pool -> concat -> dropout -> linear (-> softmax)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from torch import nn

from ava_detector.config.pathways import pathway_frames
from ava_detector.modeling.cls_heads import CLS_HEAD_REGISTRY

__all__ = ["KineticsHead", "build_kinetics_head"]


class KineticsHead(nn.Module):
    """Video-level class scores from SlowFast features, fully convolutional at test.

    Each pathway is average pooled with a fixed window (T_p x crop/stride x crop/stride, stride 1):
    at the training crop that is a global average; at larger test sizes it yields a grid of
    positions. The linear layer runs at every position; training returns the position-averaged
    logits, inference the position-averaged probabilities (as PySlowFast does).

    Args:
        input_shape: the backbone's output per pathway (``{"slow": ShapeSpec, "fast": ShapeSpec}``,
            features (N, C_p, T_p, H, W)).
        num_classes: the number of classes C.
        pool_sizes: per pathway, the average-pool window (T_p, H_p, W_p) at the training crop
            (clamped to the feature size at run time).
        dropout: dropout before the linear layer (0: none).
        activation: "softmax" or "sigmoid", turning logits into inference scores.
        init_std: standard deviation of the linear layer's initial weights (bias 0).
    """

    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        num_classes: int,
        pool_sizes: dict[str, tuple[int, int, int]],
        dropout: float = 0.5,
        activation: str = "softmax",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(
                f"MODEL.CLS_HEAD.ACTIVATION must be sigmoid or softmax, got {activation!r}"
            )
        self.in_features = tuple(input_shape)
        self.pool_sizes = {f: tuple(int(v) for v in pool_sizes[f]) for f in self.in_features}
        self.activation = activation
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.predictor = nn.Linear(
            sum(input_shape[f].channels for f in self.in_features), num_classes
        )
        nn.init.normal_(self.predictor.weight, std=init_std)
        nn.init.zeros_(self.predictor.bias)

    def position_logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits at every pooled position, (N, T', H', W', C); (N, 1, 1, 1, C) at the training size."""
        pooled = []
        for f in self.in_features:
            x = features[f]
            kernel = tuple(min(k, s) for k, s in zip(self.pool_sizes[f], x.shape[2:]))
            pooled.append(F.avg_pool3d(x, kernel_size=kernel, stride=1))
        x = torch.cat(pooled, dim=1).permute(0, 2, 3, 4, 1)
        return self.predictor(self.dropout(x))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training: logits (N, C) averaged over positions. Inference: probabilities (N, C)."""
        logits = self.position_logits(features)
        if self.training:
            return logits.mean(dim=(1, 2, 3))
        probs = logits.softmax(dim=-1) if self.activation == "softmax" else logits.sigmoid()
        return probs.mean(dim=(1, 2, 3))


@CLS_HEAD_REGISTRY.register()
def build_kinetics_head(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> KineticsHead:
    """KineticsHead from ``cfg.MODEL.CLS_HEAD``; pool windows from INPUT.NUM_FRAMES / ALPHA / TRAIN_CROP_SIZE."""
    frames = pathway_frames(
        cfg.MODEL.SLOWFAST.ARCH,
        cfg.INPUT.NUM_FRAMES,
        cfg.MODEL.SLOWFAST.ALPHA,
        slow_from_fast=False,
    )
    crop = cfg.INPUT.TRAIN_CROP_SIZE
    pool_sizes = {
        f: (frames[f], crop // s.stride, crop // s.stride) for f, s in input_shape.items()
    }
    h = cfg.MODEL.CLS_HEAD
    return KineticsHead(
        input_shape,
        num_classes=h.NUM_CLASSES,
        pool_sizes=pool_sizes,
        dropout=h.DROPOUT,
        activation=h.ACTIVATION,
        init_std=h.INIT_STD,
    )
