"""The action model for the demo: config + weights -> ``AVADetector``, and per-keyframe prediction.

:class:`ActionPredictor` builds each clip with the test-time ``AVADatasetMapper`` (same sampling,
resize and box handling as evaluation) from a :class:`FrameRingBuffer`, runs the detector and returns
the per-box action probabilities in original-frame pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from detectron2.structures import Instances

import ava_detector.builtin_models  # noqa: F401  (registers the model components)
from ava_detector.ava.data.classes import resolve_cfg_num_classes
from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.checkpoint.checkpointer import VideoCheckpointer
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.demo.frame_buffer import (
    BUFFER_SOURCE,
    FrameRingBuffer,
)
from ava_detector.demo.schedule import clip_extent

__all__ = ["ActionPredictor", "build_cfg", "load_detector", "scores_by_action_id"]


def build_cfg(
    config_file: str, opts: list[str] | None = None, dataset: str | None = None
) -> CfgNode:
    """A frozen config from ``config_file`` + ``KEY VALUE`` overrides (CPU when CUDA is absent), the
    class count resolved as training resolves it (``NUM_CLASSES`` 0, ``AVA.CLASS_SUBSET``), from
    ``dataset`` (the demo's ``--dataset``) when given, else the config's datasets."""
    if not Path(config_file).is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    cfg = get_ava_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts or []))
    if cfg.MODEL.ROI_HEADS.NUM_CLASSES == 0 or cfg.AVA.CLASS_SUBSET:
        resolve_cfg_num_classes(cfg, (dataset,) if dataset else None)
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def load_detector(cfg: CfgNode, weights: str) -> torch.nn.Module:
    """The detector of ``cfg`` with ``weights`` loaded, in eval mode; a missing file is an error
    (Detectron2's checkpointer would otherwise silently keep the random initialisation)."""
    if not weights or not Path(weights).is_file():
        raise FileNotFoundError(f"model weights not found: {weights!r}")
    model = build_model(cfg)
    VideoCheckpointer(model).load(weights)
    return model.eval()


def scores_by_action_id(scores: torch.Tensor, class_ids: list[int]) -> torch.Tensor:
    """``(K, len(class_ids))`` scores of a class-subset model -> ``(K, max id)`` with column
    ``id - 1`` per listed id and NaN for ids the model does not predict (never drawn or written)."""
    out = torch.full((scores.shape[0], max(class_ids)), float("nan"), dtype=scores.dtype)
    out[:, torch.as_tensor(class_ids) - 1] = scores
    return out


class ActionPredictor:
    """``predictor(buffer, time, boxes) -> Instances`` with ``pred_boxes`` (original pixels) and
    ``scores (K, C)`` (column ``id - 1`` for action ``id``, also for a class-subset model); ``boxes``
    are normalised XYXY on the keyframe at ``time`` seconds."""

    def __init__(self, cfg: CfgNode, model: torch.nn.Module) -> None:
        self.model = model.eval()
        params = AVADatasetMapper.from_config(cfg, is_train=False)
        self.mapper = AVADatasetMapper(**{**params, "source": BUFFER_SOURCE})
        n, r = self.mapper.clip_length
        #: seconds before / after a keyframe that its clip reaches
        self.extent = clip_extent(n, r, self.mapper.target_fps)
        #: action id of each model output (AVA.CLASS_SUBSET), None: outputs are ids 1..C
        self.class_ids = [int(c) for c in cfg.AVA.CLASS_SUBSET] or None
        #: columns of ``scores``: the largest action id (column ``id - 1`` holds action ``id``)
        self.num_score_columns = (
            max(self.class_ids) if self.class_ids else int(cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        )

    def __call__(self, buffer: FrameRingBuffer, time: float, boxes: np.ndarray) -> Instances:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        record = {
            "video_id": buffer.path,
            "sec": float(time),
            "start_sec": 0.0,
            "image_id": f"{buffer.path},{time:.3f}",
            "frame_source": buffer,
            "boxes": boxes,
        }
        with torch.no_grad():
            inst = self.model([self.mapper(record)])[0]["instances"].to("cpu")
        if self.class_ids is not None:
            inst.scores = scores_by_action_id(inst.scores, self.class_ids)
        return inst
