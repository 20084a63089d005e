"""AVA models: the action head (``ROI_HEADS_REGISTRY``) and the detector meta-architecture."""
