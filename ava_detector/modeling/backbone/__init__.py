"""SlowFast ResNet-3D backbones (registered in Detectron2's BACKBONE_REGISTRY on import)."""

from .slowfast import SlowFast, build_slowfast_backbone, pathways_of

__all__ = ["SlowFast", "build_slowfast_backbone", "pathways_of"]
