"""``ActionModel``: the exportable part of an ``AVADetector`` (backbone + action head) as one tensor graph.

The detector's ``forward`` takes dicts and ``Instances``; exporters need plain tensors. This module
takes the normalised, padded clips of each pathway (what ``AVADetector.preprocess`` produces) and the
person boxes as ``rois (R, 5) = [batch index, x1, y1, x2, y2]`` in clip pixels, and returns the
per-box action probabilities ``(R, C)``. Pre-processing (decode, resize, normalise, pad) and mapping
boxes back to the original frame stay outside, as in Detectron2's own export wrappers.
"""

from __future__ import annotations

import torch
from torch import nn

from ava_detector.ava.modeling.detector import AVADetector

__all__ = ["ActionModel", "example_inputs"]


class ActionModel(nn.Module):
    """Backbone + action head: ``forward(*clips, rois) -> probabilities (R, C)``.

    ``clips`` are float ``(N, 3, T, H, W)`` tensors in the order of :attr:`pathways` (``("slow",
    "fast")`` for SlowFast, one tensor for Slow-only / Fast-only).
    """

    def __init__(self, detector: AVADetector) -> None:
        super().__init__()
        self.backbone = detector.backbone
        self.roi_heads = detector.roi_heads
        self.pathways: tuple[str, ...] = tuple(detector.pathways)

    @property
    def input_names(self) -> list[str]:
        return [*self.pathways, "rois"]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        *clips, rois = inputs
        features = self.backbone(dict(zip(self.pathways, clips)))
        return self.roi_heads.predict_probs(self.roi_heads.forward_boxes(features, rois))


def example_inputs(
    detector: AVADetector,
    *,
    num_frames: int,
    alpha: int,
    height: int,
    width: int,
    num_boxes: int = 2,
    seed: int = 0,
) -> tuple[torch.Tensor, ...]:
    """Random normalised clips of ``height`` x ``width`` (multiples of the backbone's size
    divisibility) and ``num_boxes`` valid boxes inside them, for tracing and checks."""
    gen = torch.Generator().manual_seed(seed)
    frames = {"slow": num_frames // alpha, "fast": num_frames}  # as the mapper samples them
    clips = [torch.randn(1, 3, frames[p], height, width, generator=gen) for p in detector.pathways]
    xy = torch.rand(num_boxes, 2, generator=gen) * torch.tensor([width * 0.6, height * 0.6])
    wh = (0.2 + 0.2 * torch.rand(num_boxes, 2, generator=gen)) * torch.tensor([width, height])
    rois = torch.cat([torch.zeros(num_boxes, 1), xy, xy + wh], dim=1)
    return (*clips, rois)
