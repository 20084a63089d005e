"""Person boxes from a Detectron2 detector (e.g. Faster R-CNN of Detectron2's model zoo) with the user's weights.

The config is a file path or a model-zoo name (``COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml``); the
weights must be a local file (nothing is downloaded). Detectron2's ``DefaultPredictor`` runs the
model on the keyframe; only the person class above ``threshold`` is kept, as normalised boxes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode, get_cfg
from detectron2.engine import DefaultPredictor

__all__ = ["COCO_PERSON", "PersonDetector", "build_person_detector_cfg", "person_boxes"]

#: Class index of "person" in COCO-trained Detectron2 models.
COCO_PERSON = 0


def build_person_detector_cfg(
    config: str, weights: str, threshold: float, device: str = "cpu"
) -> CfgNode:
    """A Detectron2 config from a YAML path or model-zoo name, with ``weights`` and the score threshold."""
    if not weights or not Path(weights).is_file():
        raise FileNotFoundError(f"detector weights not found: {weights!r}")
    cfg = get_cfg()
    if Path(config).is_file():
        cfg.merge_from_file(config)
    else:
        from detectron2 import model_zoo

        try:
            cfg.merge_from_file(model_zoo.get_config_file(config))
        except RuntimeError as err:
            raise FileNotFoundError(f"detector config {config!r}: no such file or model-zoo name") from err
    cfg.MODEL.WEIGHTS = str(weights)
    cfg.MODEL.DEVICE = device
    for head in ("ROI_HEADS", "RETINANET"):
        cfg.MODEL[head].SCORE_THRESH_TEST = float(threshold)
    cfg.freeze()
    return cfg


def person_boxes(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, height: int, width: int,
    threshold: float, person_class: int = COCO_PERSON,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised XYXY boxes and scores of the ``person_class`` detections with score >= ``threshold``,
    highest score first."""
    keep = (np.asarray(classes) == person_class) & (np.asarray(scores) >= threshold)
    order = np.argsort(-np.asarray(scores)[keep], kind="stable")
    size = np.array([width, height, width, height], np.float32)
    out = np.asarray(boxes, np.float32).reshape(-1, 4)[keep][order] / size
    return np.clip(out, 0.0, 1.0), np.asarray(scores, np.float32)[keep][order]


class PersonDetector:
    """``detector(timestamp, frame_rgb) -> (boxes, scores)``: persons on the keyframe."""

    def __init__(self, cfg: CfgNode, person_class: int = COCO_PERSON):
        self.predictor = DefaultPredictor(cfg)
        self.threshold = float(cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST)
        self.person_class = person_class

    def __call__(self, timestamp: float, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            inst = self.predictor(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))["instances"].to("cpu")
        height, width = frame_rgb.shape[:2]
        return person_boxes(inst.pred_boxes.tensor.numpy(), inst.scores.numpy(),
                            inst.pred_classes.numpy(), height, width, self.threshold, self.person_class)
