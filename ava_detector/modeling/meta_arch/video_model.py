"""What the meta-architectures share: a SlowFast backbone over per-pathway clips, and the pixel
statistics that normalise uint8 clips on the model's device."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone
from torch import nn

__all__ = ["VideoModel"]


class VideoModel(nn.Module):
    """Base of ``AVADetector`` and ``VideoClassifier``: ``backbone``, ``pixel_mean`` / ``pixel_std``
    buffers (one value per channel, not saved in checkpoints), ``device`` and ``pathways``."""

    def __init__(self, backbone: nn.Module, pixel_mean: tuple[float, ...],
                 pixel_std: tuple[float, ...]):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1), False)

    @staticmethod
    def base_config(cfg) -> dict[str, Any]:
        """The constructor arguments every video model takes from ``cfg``."""
        return {
            "backbone": build_backbone(cfg, ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))),
            "pixel_mean": tuple(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": tuple(cfg.MODEL.PIXEL_STD),
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def pathways(self) -> tuple[str, ...]:
        return tuple(getattr(self.backbone, "pathways", ("slow", "fast")))
