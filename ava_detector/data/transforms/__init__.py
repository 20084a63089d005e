"""Video-aware augmentations: Detectron2 transforms applied to whole clips, boxes moved with them."""
