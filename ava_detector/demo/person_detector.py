"""Person boxes from a Detectron2 detector (e.g. Faster R-CNN of Detectron2's model zoo) with the user's weights.

The config is a file path or a model-zoo name (``COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml``); the
weights must be a local file (nothing is downloaded). Detectron2's ``DefaultPredictor`` runs the
model on the keyframe; only the person class above ``threshold`` is kept, as normalised boxes.

The weights are read by the project's ``SafeDetectionCheckpointer`` (``torch.load(weights_only=True)``
or the restricted unpickler), never by Detectron2's own loader, which unpickles ``.pkl`` files with
``pickle.load`` and so would run code stored in them; the YAML config is read without
``yaml.unsafe_load``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from detectron2.config import CfgNode, get_cfg
from detectron2.engine import DefaultPredictor

from ava_detector.checkpoint.checkpointer import SafeDetectionCheckpointer

__all__ = ["COCO_PERSON", "PersonDetector", "build_person_detector_cfg", "person_boxes"]

#: Class index of "person" in COCO-trained Detectron2 models.
COCO_PERSON = 0


def build_person_detector_cfg(
    config: str, weights: str, threshold: float, device: str = "cpu"
) -> CfgNode:
    """A Detectron2 config from a YAML path or model-zoo name, with ``weights`` and the score threshold.

    Args:
        config: a YAML file or a Detectron2 model-zoo config name.
        weights: a local weights file (``.pkl`` of the model zoo, or a ``.pth``).
        threshold: minimum person score.
        device: where the detector runs.
    """
    if not weights or not Path(weights).is_file():
        raise FileNotFoundError(f"detector weights not found: {weights!r}")
    cfg = get_cfg()
    if not Path(config).is_file():
        from detectron2 import model_zoo

        try:
            config = model_zoo.get_config_file(config)
        except RuntimeError as err:
            raise FileNotFoundError(
                f"detector config {config!r}: no such file or model-zoo name"
            ) from err
    try:
        cfg.merge_from_file(config, allow_unsafe=False)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"{config}: not a plain YAML config ({detail})") from None
    cfg.MODEL.WEIGHTS = str(weights)
    cfg.MODEL.DEVICE = device
    for head in ("ROI_HEADS", "RETINANET"):
        cfg.MODEL[head].SCORE_THRESH_TEST = float(threshold)
    cfg.freeze()
    return cfg


def person_boxes(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    height: int,
    width: int,
    threshold: float,
    person_class: int = COCO_PERSON,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised XYXY boxes and scores of the ``person_class`` detections with score >= ``threshold``,
    highest score first."""
    keep = (np.asarray(classes) == person_class) & (np.asarray(scores) >= threshold)
    order = np.argsort(-np.asarray(scores)[keep], kind="stable")
    size = np.array([width, height, width, height], np.float32)
    out = np.asarray(boxes, np.float32).reshape(-1, 4)[keep][order] / size
    return np.clip(out, 0.0, 1.0), np.asarray(scores, np.float32)[keep][order]


class PersonDetector:
    """``detector(timestamp, frame_rgb) -> (boxes, scores)``: persons on the keyframe.

    Args:
        cfg: from :func:`build_person_detector_cfg`; ``MODEL.WEIGHTS`` is loaded safely.
        person_class: the class index of "person".
    """

    def __init__(self, cfg: CfgNode, person_class: int = COCO_PERSON) -> None:
        # DefaultPredictor loads MODEL.WEIGHTS with Detectron2's pickle-based loader: build it
        # without weights, then load them through the safe checkpointer.
        bare = cfg.clone()
        bare.defrost()
        bare.MODEL.WEIGHTS = ""
        bare.freeze()
        self.predictor = DefaultPredictor(bare)
        SafeDetectionCheckpointer(self.predictor.model).load(cfg.MODEL.WEIGHTS)
        self.threshold = float(cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST)
        self.person_class = person_class

    def __call__(self, timestamp: float, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detect_batch([frame_rgb])[0]

    def detect_batch(self, frames_rgb: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Persons on each of several frames in one forward pass (the predictor's test-time resize
        and input format, as ``DefaultPredictor`` prepares one image).

        Args:
            frames_rgb: uint8 ``(H, W, 3)`` RGB frames.

        Returns:
            per frame, normalised XYXY boxes (K, 4) and scores (K,), highest score first.
        """
        p = self.predictor
        inputs = []
        for rgb in frames_rgb:
            image = rgb if p.input_format == "RGB" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            height, width = image.shape[:2]
            resized = p.aug.get_transform(image).apply_image(image)
            tensor = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
            inputs.append(
                {"image": tensor.to(p.cfg.MODEL.DEVICE), "height": height, "width": width}
            )
        with torch.no_grad():
            outputs = p.model(inputs) if inputs else []
        results = []
        for rgb, out in zip(frames_rgb, outputs):
            inst = out["instances"].to("cpu")
            results.append(
                person_boxes(
                    inst.pred_boxes.tensor.numpy(),
                    inst.scores.numpy(),
                    inst.pred_classes.numpy(),
                    rgb.shape[0],
                    rgb.shape[1],
                    self.threshold,
                    self.person_class,
                )
            )
        return results
