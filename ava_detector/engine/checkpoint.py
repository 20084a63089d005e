"""Initialisation from a classification (Kinetics) checkpoint: backbone only, classifier skipped.

PySlowFast's known pitfall is to "resume" a Kinetics schedule when fine-tuning on AVA. Here a
classification checkpoint only ever gives weights: the trainer starts at iteration 0 (Detectron2's
``resume_or_load(resume=False)`` loads no optimizer/scheduler/iteration), and every non-backbone
tensor is dropped with a logged list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from detectron2.checkpoint import DetectionCheckpointer

__all__ = ["BACKBONE_PREFIX", "AVATrainingCheckpointer", "is_classification_state", "split_backbone"]

BACKBONE_PREFIX = "backbone."
HEAD_PREFIX = "roi_heads."

logger = logging.getLogger(__name__)


def is_classification_state(keys: Iterable[str]) -> bool:
    """True for a state dict with backbone weights but no AVA action head (a Kinetics model)."""
    keys = list(keys)
    has_backbone = any(k.startswith(BACKBONE_PREFIX) for k in keys)
    return has_backbone and not any(k.startswith(HEAD_PREFIX) for k in keys)


def split_backbone(state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the backbone's tensors, the sorted names of everything else)."""
    kept = {k: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
    return kept, sorted(k for k in state if k not in kept)


def _checkpointer_base() -> type:
    """MODEL's ``AVACheckpointer`` (reads PySlowFast .pyth/.pkl) where present, else Detectron2's."""
    try:
        from ava_detector.checkpoint import AVACheckpointer
    except ImportError:
        return DetectionCheckpointer
    return AVACheckpointer


class AVATrainingCheckpointer(_checkpointer_base()):  # type: ignore[misc]
    """The trainer's checkpointer: loads a classification checkpoint's backbone only.

    ``backbone_only=True`` (``MODEL.WEIGHTS_BACKBONE_ONLY``) forces it; otherwise it is detected
    from the weights (a backbone without ``roi_heads.*``). Resuming from our own AVA checkpoints is
    untouched.
    """

    def __init__(self, model, save_dir: str = "", *, backbone_only: bool = False, **checkpointables):
        super().__init__(model, save_dir, **checkpointables)
        self.backbone_only = backbone_only

    def _load_model(self, checkpoint: dict[str, Any]):
        state = checkpoint["model"]
        if self.backbone_only or is_classification_state(state.keys()):
            kept, skipped = split_backbone(state)
            reason = "MODEL.WEIGHTS_BACKBONE_ONLY" if self.backbone_only else "classification checkpoint"
            logger.info(
                "Loading the backbone only (%s): %d tensors kept, %d skipped: %s",
                reason, len(kept), len(skipped), ", ".join(skipped) or "none",
            )
            checkpoint["model"] = kept
        return super()._load_model(checkpoint)
