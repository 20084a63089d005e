"""Video classifier (Kinetics pretraining): normalise -> SlowFast backbone -> KineticsHead.

Training: cross-entropy of the position-averaged logits. Inference: the head's softmax (averaged
over positions when the input is larger than the training crop, i.e. fully convolutional).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

from ava_detector.modeling.cls_heads import ClsHead, build_cls_head
from ava_detector.modeling.video_model import VideoModel

__all__ = ["VideoClassifier"]


@META_ARCH_REGISTRY.register()
class VideoClassifier(VideoModel):
    """Clip -> class scores. Inputs are Kinetics mapper dicts (``clips`` per pathway as uint8
    ``(3, T, H, W)``, or ``clip_bytes`` decoded on the device; ``label`` in training); all clips of
    a batch must have the same size.

    Training returns ``{"loss_cls": CE}``; inference returns one dict per input: ``{"scores": (C,)}``
    probabilities, or ``{}`` for an input without ``clips`` (a view the mapper could not read, which
    carries ``skip_reason`` for the evaluator).

    Args:
        backbone: the SlowFast backbone: ``{pathway: (N, 3, T_p, H, W)}`` normalised clips ->
            ``{pathway: (N, C_p, T_p', H', W')}`` features.
        cls_head: the classification head (built from ``MODEL.CLS_HEAD``, e.g.
            :class:`~ava_detector.kinetics.modeling.head.KineticsHead`): features -> logits (N, C) in
            training, scores (N, C) at inference.
        pixel_mean, pixel_std: per-channel statistics in 0-255 units (``MODEL.PIXEL_MEAN`` / ``_STD``).
        decode_device: ``INPUT.DECODE_DEVICE``, where inputs carrying ``clip_bytes`` are decoded.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        cls_head: ClsHead,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        decode_device: str = "cpu",
    ) -> None:
        super().__init__(backbone, pixel_mean, pixel_std, decode_device)
        self.cls_head = cls_head

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        args = cls.base_config(cfg)
        return {**args, "cls_head": build_cls_head(cfg, args["backbone"].output_shape())}

    def preprocess(self, batched_inputs: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Normalised float clips ``(N, 3, T, H, W)`` per pathway on the model's device."""
        inputs = self.input_clips(batched_inputs)
        clips = {}
        for name in self.pathways:
            per_clip = [x[name] for x in inputs]
            sizes = {tuple(c.shape) for c in per_clip}
            if len(sizes) > 1:
                raise ValueError(f"clips of one batch differ in shape ({name}): {sorted(sizes)}")
            batch = torch.stack(per_clip).float()
            clips[name] = (batch - self.pixel_mean.view(-1, 1, 1, 1)) / self.pixel_std.view(
                -1, 1, 1, 1
            )
        return clips

    def logits(self, batched_inputs: list[dict[str, Any]]) -> torch.Tensor:
        """Position-averaged logits ``(N, C)`` (what the loss sees; PySlowFast's pre-softmax output)."""
        features = self.backbone(self.preprocess(batched_inputs))
        return self.cls_head.position_logits(features).mean(dim=(1, 2, 3))

    def forward(
        self, batched_inputs: list[dict[str, Any]]
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        if self.training:
            logits = self.cls_head(self.backbone(self.preprocess(batched_inputs)))
            labels = torch.as_tensor(
                [int(x["label"]) for x in batched_inputs], dtype=torch.long, device=self.device
            )
            return {"loss_cls": F.cross_entropy(logits, labels)}
        valid = [i for i, x in enumerate(batched_inputs) if "clips" in x or "clip_bytes" in x]
        out: list[dict[str, torch.Tensor]] = [{} for _ in batched_inputs]
        if valid:
            features = self.backbone(self.preprocess([batched_inputs[i] for i in valid]))
            for i, scores in zip(valid, self.cls_head(features)):
                out[i] = {"scores": scores}
        return out
