"""SlowFast ResNet-3D backbones (``build_slowfast_backbone`` in Detectron2's ``BACKBONE_REGISTRY``)."""
