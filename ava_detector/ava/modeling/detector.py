"""AVA detector: person boxes on a keyframe + the clip around it -> 80 action scores per box."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Boxes, ImageList, Instances
from torch import nn

from ava_detector.ava.modeling.action_head import AVAActionHead
from ava_detector.modeling.video_model import VideoModel

__all__ = ["AVADetector", "batch_clips", "rescale_instances"]


def batch_clips(
    clips: list[torch.Tensor], mean: torch.Tensor, std: torch.Tensor, size_divisibility: int
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Normalise uint8 clips (3, T, H, W) and pad them into one (N, 3, T, H', W') float batch.

    Padding is at the bottom/right with 0 after normalisation (the mean colour), so boxes in clip
    pixels stay valid; H' and W' are multiples of ``size_divisibility``. Returns the batch and the
    unpadded (H, W) of every clip.
    """
    normed = [(c.float() - mean.view(-1, 1, 1, 1)) / std.view(-1, 1, 1, 1) for c in clips]
    images = ImageList.from_tensors(normed, size_divisibility=size_divisibility)
    return images.tensor, list(images.image_sizes)


def rescale_instances(pred: Instances, height: int, width: int) -> Instances:
    """Map ``pred_boxes`` from the clip's pixels to the original (height, width) frame.

    Unlike Detectron2's ``detector_postprocess`` no box is filtered out: every person box the model
    was given gets its scores back (an evaluator must see all actors, also degenerate boxes).
    """
    in_h, in_w = pred.image_size
    out = Instances((int(height), int(width)), **pred.get_fields())
    boxes = Boxes(pred.pred_boxes.tensor.clone())
    boxes.scale(width / in_w, height / in_h)
    boxes.clip(out.image_size)
    out.pred_boxes = boxes
    return out


@META_ARCH_REGISTRY.register()
class AVADetector(VideoModel):
    """SlowFast backbone + AVA action head over the keyframe's person boxes.

    Input: a list of ``AVADatasetMapper`` dicts (``clips`` per pathway as uint8, or ``clip_bytes``
    + ``clip_transforms`` decoded on the device; ``instances`` with ``proposal_boxes`` in clip
    pixels, ``gt_actions`` in training). Training returns the head's
    loss dict; inference returns ``[{"instances": Instances}]`` with ``pred_boxes`` in original
    frame pixels and ``scores`` (K, 80).

    Args:
        backbone: the SlowFast backbone: ``{pathway: (N, 3, T_p, H, W)}`` normalised clips ->
            ``{pathway: (N, C_p, T_p', H', W')}`` features.
        roi_heads: the action head (:class:`AVAActionHead`): features and the person boxes ->
            a loss dict (training) or Instances with ``scores`` (K, C).
        pixel_mean, pixel_std: per-channel statistics in 0-255 units (``MODEL.PIXEL_MEAN`` / ``_STD``).
        size_divisibility: clips are padded to multiples of this (at least the backbone's own).
        decode_device: ``INPUT.DECODE_DEVICE``, where inputs carrying ``clip_bytes`` are decoded.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        roi_heads: AVAActionHead,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        size_divisibility: int,
        decode_device: str = "cpu",
    ) -> None:
        super().__init__(backbone, pixel_mean, pixel_std, decode_device)
        self.roi_heads = roi_heads
        self.size_divisibility = max(
            int(size_divisibility), int(getattr(backbone, "size_divisibility", 0))
        )

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        args = cls.base_config(cfg)
        return {
            **args,
            "roi_heads": build_roi_heads(cfg, args["backbone"].output_shape()),
            "size_divisibility": cfg.INPUT.SIZE_DIVISIBILITY,
        }

    def preprocess(
        self, batched_inputs: list[dict[str, Any]]
    ) -> tuple[dict[str, torch.Tensor], list[Instances]]:
        """Move the batch to the device (decoding ``clip_bytes`` there): normalised, padded clips
        per pathway and the box lists."""
        inputs = self.input_clips(batched_inputs)
        clips: dict[str, torch.Tensor] = {}
        sizes: list[tuple[int, int]] = []
        for name in self.pathways:
            per_clip = [x[name] for x in inputs]
            clips[name], sizes = batch_clips(
                per_clip, self.pixel_mean, self.pixel_std, self.size_divisibility
            )
        proposals = []
        for x, size in zip(batched_inputs, sizes):
            inst = x["instances"].to(self.device)
            if tuple(inst.image_size) != tuple(size):
                raise ValueError(
                    f"{x.get('image_id', '?')}: instances.image_size {inst.image_size} "
                    f"differs from the clip size {size}"
                )
            proposals.append(inst)
        return clips, proposals

    def forward(
        self, batched_inputs: list[dict[str, Any]]
    ) -> dict[str, torch.Tensor] | list[dict[str, Instances]]:
        clips, proposals = self.preprocess(batched_inputs)
        features = self.backbone(clips)
        if self.training:
            return self.roi_heads(features, proposals)
        return self.postprocess(self.roi_heads(features, proposals), batched_inputs)

    @staticmethod
    def postprocess(
        results: list[Instances], batched_inputs: list[dict[str, Any]]
    ) -> list[dict[str, Instances]]:
        """Rescale every result to its input's original ``height`` x ``width``."""
        out = []
        for pred, x in zip(results, batched_inputs):
            h, w = pred.image_size
            out.append(
                {"instances": rescale_instances(pred, x.get("height", h), x.get("width", w))}
            )
        return out
