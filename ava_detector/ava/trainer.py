"""``AVATrainer``: the video trainer with the AVA records, mapper, checkpointer and evaluator.

Everything about the loop (seeded resumable loader, SGD groups, warm-up schedule, AMP, NaN stop,
hooks, ``--resume``) is :class:`~ava_detector.engine.video_trainer.VideoTrainer`'s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from detectron2.config import CfgNode

import ava_detector.builtin_datasets  # noqa: F401  (the built-in dataset names)
import ava_detector.builtin_models  # noqa: F401  (the registered model components)
from ava_detector.ava.checkpointer import AVATrainingCheckpointer
from ava_detector.ava.data.builtin import register_ava_from_cfg
from ava_detector.ava.data.classes import resolve_cfg_num_classes
from ava_detector.ava.data.split_records import records_for_cfg
from ava_detector.ava.evaluation.evaluator import AVAEvaluator
from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.data.errors import InputFileError
from ava_detector.engine.cli import SetupError
from ava_detector.engine.video_trainer import VideoTrainer, require_registered

__all__ = ["AVATrainer", "load_records", "resolve_classes"]


def resolve_classes(cfg: CfgNode) -> None:
    """Set ``MODEL.ROI_HEADS.NUM_CLASSES`` (0 = from the label maps) from the datasets of
    ``DATASETS.TRAIN`` / ``DATASETS.TEST`` (registered from ``AVA.*`` first); a disagreement raises
    :class:`~ava_detector.engine.cli.SetupError` naming the key and the label map."""
    try:
        resolve_cfg_num_classes(cfg)
    except (ValueError, InputFileError) as err:
        raise SetupError(str(err)) from None


def load_records(cfg: CfgNode, names: Sequence[str], is_train: bool) -> list[dict]:
    """The records of the datasets ``names`` with the boxes the config selects (train / test /
    GT-box mode, mini-val subsampling), failing with a clear message for unknown names or no data.
    """
    register_ava_from_cfg(cfg)
    require_registered(names, "AVA", ("ava",))
    records = [r for n in names for r in records_for_cfg(n, cfg, is_train=is_train)]
    if not records:
        split = "train" if is_train else "test"
        raise ValueError(f"datasets {list(names)} hold no keyframe with boxes to {split} on")
    return records


class AVATrainer(VideoTrainer):
    """AVA action detection: keyframe records, ``AVADatasetMapper``, ``AVAEvaluator``.

    Args:
        cfg: a config with the project's keys and ``MODEL.META_ARCHITECTURE`` ``AVADetector``.
    """

    # Loads MODEL.WEIGHTS and resumes; keeps only the backbone of classification weights.
    checkpointer_class = AVATrainingCheckpointer

    @classmethod
    def load_records(cls, cfg: CfgNode, names: Sequence[str], is_train: bool) -> list[dict]:
        return load_records(cfg, names, is_train)

    @classmethod
    def build_mapper(cls, cfg: CfgNode, is_train: bool) -> AVADatasetMapper:
        """The record -> model input mapper (``AVADatasetMapper``)."""
        return AVADatasetMapper(cfg, is_train=is_train)

    @classmethod
    def build_evaluator(
        cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None
    ) -> AVAEvaluator:
        """``AVAEvaluator`` with ``AVA.EVAL_PROTOCOL``; detections CSV and AP chart go to
        ``OUTPUT_DIR/inference/<dataset>``."""
        from detectron2.utils import comm

        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        if comm.is_main_process():
            os.makedirs(output_folder, exist_ok=True)
        return AVAEvaluator(
            dataset_name,
            output_dir=output_folder,
            protocol=cfg.AVA.EVAL_PROTOCOL,
            gt_boxes=cfg.AVA.GT_BOXES,
            every_k_seconds=cfg.AVA.EVAL_EVERY_K_SECONDS,
            class_ids=cfg.AVA.CLASS_SUBSET or None,
        )
