"""Heads: the AVA action head (registered in ROI_HEADS_REGISTRY on import) and the Kinetics head."""

from .action_head import AVAActionHead
from .kinetics_head import KineticsHead, build_cls_head

__all__ = ["AVAActionHead", "KineticsHead", "build_cls_head"]
