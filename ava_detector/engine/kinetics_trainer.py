"""``KineticsTrainer``: ENGINE's ``AVATrainer`` with the Kinetics data, mapper, evaluator and checkpointer.

Everything about the loop (seeded resumable loader, SGD groups, warm-up + cosine/steps, AMP, NaN
stop, hooks, ``--resume``) is ``AVATrainer``'s. Training draws a random clip per video; testing
expands every video into ``TEST_NUM_CLIPS x TEST_NUM_CROPS`` view records, spread over the processes
by the inference sampler, and ``KineticsEvaluator`` aggregates them per video.

The checkpoints it writes (``backbone.*`` + ``cls_head.*``) initialise ``tools/train_ava.py``:
ENGINE's checkpointer loads the backbone only and starts at iteration 0.
"""

from __future__ import annotations

import logging

from detectron2.data import DatasetCatalog
from detectron2.utils import comm

from ava_detector.checkpoint import AVACheckpointer
from ava_detector.data.kinetics import (
    KineticsDatasetMapper,
    expand_test_views,
    register_kinetics_from_cfg,
)
from ava_detector.modeling.meta_arch import video_classifier  # noqa: F401  (registers VideoClassifier)

from .data_loading import ResumableLoader, build_ava_test_loader
from .trainer import AVATrainer, require_registered, resolve_seed

__all__ = ["KineticsTrainer", "load_kinetics_records"]

logger = logging.getLogger(__name__)


def load_kinetics_records(cfg, names, is_train: bool) -> list[dict]:
    """Records of the Kinetics datasets ``names`` (one per video in training, one per test view
    otherwise), failing clearly on unknown names or empty lists."""
    register_kinetics_from_cfg(cfg)
    require_registered(names, "Kinetics", ("kinetics",))
    records = [r for n in names for r in DatasetCatalog.get(n)]
    if not records:
        raise ValueError(f"datasets {list(names)} hold no video")
    if is_train:
        return records
    return expand_test_views(records, cfg.KINETICS.TEST_NUM_CLIPS, cfg.KINETICS.TEST_NUM_CROPS)


class KineticsTrainer(AVATrainer):
    """Kinetics pretraining of the ``VideoClassifier`` (``MODEL.META_ARCHITECTURE``)."""

    # The classifier is the model itself: its own checkpoints load whole (head included).
    checkpointer_class = AVACheckpointer

    @classmethod
    def build_mapper(cls, cfg, is_train: bool):
        return KineticsDatasetMapper(cfg, is_train=is_train)

    @classmethod
    def build_train_loader(cls, cfg, seed: int | None = None):
        return ResumableLoader(
            load_kinetics_records(cfg, cfg.DATASETS.TRAIN, is_train=True),
            cls.build_mapper(cfg, is_train=True),
            batch_size=cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size(),
            seed=resolve_seed(cfg) if seed is None else seed,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        return build_ava_test_loader(
            load_kinetics_records(cfg, [dataset_name], is_train=False),
            cls.build_mapper(cfg, is_train=False),
            batch_size=cfg.TEST.IMS_PER_BATCH, num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder: str | None = None):
        from ava_detector.evaluation.kinetics_evaluation import KineticsEvaluator

        return KineticsEvaluator(dataset_name, cfg, output_dir=output_folder or cfg.OUTPUT_DIR)
