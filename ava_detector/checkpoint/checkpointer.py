"""``AVACheckpointer``: Detectron2's checkpointer that also reads PySlowFast ``.pyth`` and Caffe2 ``.pkl``
files (detected by content), maps their names on the fly and reports everything it leaves out."""

from __future__ import annotations

import logging
from typing import Any

from detectron2.checkpoint import DetectionCheckpointer

from .convert import ConversionResult, convert_any, split_backbone
from .safe_load import load_checkpoint_file

__all__ = ["AVACheckpointer", "name_prefixes"]

logger = logging.getLogger(__name__)


def name_prefixes(model_keys) -> tuple[str, str]:
    """(backbone prefix, classifier-head prefix) of a model: "backbone." / "roi_heads." (AVA) or
    "cls_head." (video classifier); "" for a bare backbone."""
    keys = list(model_keys)
    backbone = "backbone." if any(k.startswith("backbone.") for k in keys) else ""
    head = "roi_heads."
    for prefix in ("roi_heads.", "cls_head.", "head."):
        if any(k.startswith(prefix) for k in keys):
            head = prefix
            break
    return backbone, head


class AVACheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer + PySlowFast / Caffe2 import and safe loading.

    Every file is read with ``torch.load(weights_only=True)`` or a restricted unpickler. With
    ``backbone_only`` (MODEL.WEIGHTS_BACKBONE_ONLY, e.g. a Kinetics model initialising an AVA
    detector) the classifier is skipped and listed, and no iteration/optimizer state is restored.
    A classifier of another shape is skipped by Detectron2's shape check and reported as well.
    """

    def __init__(
        self, model, save_dir: str = "", *, backbone_only: bool = False, **checkpointables
    ):
        super().__init__(model, save_dir, **checkpointables)
        self.backbone_only = backbone_only

    def _load_file(self, filename: str) -> dict[str, Any]:
        obj = load_checkpoint_file(filename)
        backbone_prefix, head_prefix = name_prefixes(self.model.state_dict().keys())
        result: ConversionResult = convert_any(obj, backbone_prefix, head_prefix)
        if result.unmapped:
            logger.warning(
                "%s: %d tensors not used (no ava_detector counterpart): %s",
                filename,
                len(result.unmapped),
                ", ".join(f"{k} ({why})" for k, why in sorted(result.unmapped.items())),
            )
        state = result.state_dict
        if self.backbone_only:
            state, skipped = split_backbone(state)
            if skipped:
                logger.info(
                    "%s: backbone only, classifier skipped: %s", filename, ", ".join(skipped)
                )
            return {"model": state, "matching_heuristics": bool(obj.get("__author__"))}
        if result.source_format == "detectron2":
            out = dict(obj)
            if out.get("__author__"):
                out["matching_heuristics"] = True
            return out
        logger.info(
            "%s: %s checkpoint, %d tensors mapped", filename, result.source_format, len(state)
        )
        return {"model": state, "__author__": result.source_format}
