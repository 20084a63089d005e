"""What the meta-architectures share: a SlowFast backbone over per-pathway clips, the pixel
statistics that normalise uint8 clips on the model's device, and the clips' way there (moved, or
decoded and transformed on the device from the workers' JPEG bytes, ``INPUT.DECODE_DEVICE``)."""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone
from torch import nn

from ava_detector.data.transforms.decode_device import (
    decode_clip_bytes,
    parse_decode_device,
)

__all__ = ["VideoModel"]


class VideoModel(nn.Module):
    """Base of ``AVADetector`` and ``VideoClassifier``: ``backbone``, ``pixel_mean`` / ``pixel_std``
    buffers (one value per channel, not saved in checkpoints), ``device``, ``pathways`` and
    :meth:`input_clips`.

    Args:
        backbone: the SlowFast backbone.
        pixel_mean, pixel_std: per-channel statistics in 0-255 units.
        decode_device: ``INPUT.DECODE_DEVICE``, where inputs carrying ``clip_bytes`` are decoded. An
            unknown value raises ``ValueError`` here; a CUDA device that is not there raises when
            the first such input arrives (a model fed decoded clips, e.g. by the demo, runs anywhere).
    """

    pixel_mean: torch.Tensor  # (C,) buffers
    pixel_std: torch.Tensor

    def __init__(
        self,
        backbone: nn.Module,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        decode_device: str = "cpu",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1), False)
        parse_decode_device(decode_device, check_available=False)
        self._decode_device_spec = str(decode_device)

    @staticmethod
    def base_config(cfg: CfgNode) -> dict[str, Any]:
        """The constructor arguments every video model takes from ``cfg``."""
        return {
            "backbone": build_backbone(cfg, ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))),
            "pixel_mean": tuple(cfg.MODEL.PIXEL_MEAN),
            "pixel_std": tuple(cfg.MODEL.PIXEL_STD),
            "decode_device": cfg.INPUT.DECODE_DEVICE,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def decode_device(self) -> torch.device:
        """Where ``clip_bytes`` are decoded: the configured device, ``"cuda"`` without an index being
        the model's own GPU; the model's device when ``INPUT.DECODE_DEVICE`` is ``"cpu"``."""
        dev = parse_decode_device(self._decode_device_spec)  # raises if the GPU is not there
        if dev is None or (dev.index is None and dev.type == self.device.type):
            return self.device
        return dev

    @property
    def pathways(self) -> tuple[str, ...]:
        return tuple(getattr(self.backbone, "pathways", ("slow", "fast")))

    def input_clips(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, torch.Tensor]]:
        """Every input's uint8 clips ``{pathway: (3, T, H, W)}`` on the model's device: ``clips``
        moved there, ``clip_bytes`` + ``clip_transforms`` decoded and transformed on
        :attr:`decode_device` (all frames of the batch in one decode call).

        Args:
            batched_inputs: mapper dicts, each with ``clips`` or ``clip_bytes``.
        """
        out: list[dict[str, torch.Tensor] | None] = [None] * len(batched_inputs)
        encoded = [
            i for i, x in enumerate(batched_inputs) if "clips" not in x and "clip_bytes" in x
        ]
        if encoded:
            decoded = decode_clip_bytes([batched_inputs[i] for i in encoded], self.decode_device)
            for i, clips in zip(encoded, decoded):
                out[i] = {k: v.to(self.device, non_blocking=True) for k, v in clips.items()}
        for i, x in enumerate(batched_inputs):
            if out[i] is None:
                if "clips" not in x:
                    raise KeyError(
                        f"{x.get('image_id', x.get('video_id', '?'))}: an input without "
                        "'clips' or 'clip_bytes'"
                    )
                out[i] = {k: v.to(self.device, non_blocking=True) for k, v in x["clips"].items()}
        return out  # type: ignore[return-value]
