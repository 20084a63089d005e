"""The trainer's checkpointer: the video checkpointer (``VideoCheckpointer``) + detection of classification checkpoints.

PySlowFast's known pitfall is to "resume" a Kinetics schedule when fine-tuning on AVA. Here a
classification checkpoint only ever gives weights: the trainer starts at iteration 0 (Detectron2's
``resume_or_load`` restores optimizer/scheduler/iteration only from the output directory's own last
checkpoint), and the classifier is dropped with a logged list — when ``MODEL.WEIGHTS_BACKBONE_ONLY``
says so (``VideoCheckpointer``) or when the weights are those of a video classifier (detected here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fvcore.common.checkpoint import _IncompatibleKeys

from ava_detector.checkpoint.checkpointer import VideoCheckpointer

__all__ = ["AVATrainingCheckpointer", "is_classification_state"]

BACKBONE_PREFIX = "backbone."
HEAD_PREFIX = "roi_heads."

logger = logging.getLogger(__name__)


def is_classification_state(keys: Iterable[str]) -> bool:
    """True for a state dict with backbone weights but no AVA action head (a Kinetics model)."""
    keys = list(keys)
    has_backbone = any(k.startswith(BACKBONE_PREFIX) for k in keys)
    return has_backbone and not any(k.startswith(HEAD_PREFIX) for k in keys)


class AVATrainingCheckpointer(VideoCheckpointer):
    """``VideoCheckpointer`` that also loads only the backbone of our own Kinetics checkpoints."""

    def _load_model(self, checkpoint: dict[str, Any]) -> _IncompatibleKeys:
        state = checkpoint["model"]
        if is_classification_state(state.keys()):
            kept = {k: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
            skipped = sorted(k for k in state if k not in kept)
            logger.info(
                "Classification checkpoint: loading the backbone only (%d tensors); skipped: %s",
                len(kept),
                ", ".join(skipped) or "none",
            )
            checkpoint["model"] = kept
        return super()._load_model(checkpoint)
