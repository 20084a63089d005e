"""``KineticsTrainer``: the video trainer with the Kinetics records, mapper and evaluator.

Everything about the loop (seeded resumable loader, SGD groups, warm-up + cosine/steps, AMP, NaN
stop, hooks, ``--resume``) is :class:`~ava_detector.engine.video_trainer.VideoTrainer`'s. Training
draws a random clip per video; testing expands every video into ``TEST_NUM_CLIPS x TEST_NUM_CROPS``
view records, spread over the processes by the inference sampler, and ``KineticsEvaluator``
aggregates them per video.

The checkpoints it writes (``backbone.*`` + ``cls_head.*``) initialise ``tools/train_ava.py``: the
AVA trainer's checkpointer loads the backbone only and starts at iteration 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog

import ava_detector.builtin_datasets  # noqa: F401  (the built-in dataset names)
import ava_detector.builtin_models  # noqa: F401  (the registered model components)
from ava_detector.engine.video_trainer import VideoTrainer, require_registered
from ava_detector.kinetics.data.register import register_kinetics_from_cfg
from ava_detector.kinetics.data.views import expand_test_views
from ava_detector.kinetics.evaluator import KineticsEvaluator
from ava_detector.kinetics.mapper import KineticsDatasetMapper

__all__ = ["KineticsTrainer", "load_kinetics_records"]


def load_kinetics_records(cfg: CfgNode, names: Sequence[str], is_train: bool) -> list[dict]:
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


class KineticsTrainer(VideoTrainer):
    """Kinetics pretraining of the ``VideoClassifier`` (``MODEL.META_ARCHITECTURE``).

    The classifier is the model itself, so the default checkpointer loads its own checkpoints
    whole (head included).

    Args:
        cfg: a config with the project's keys and ``MODEL.META_ARCHITECTURE`` ``VideoClassifier``.
    """

    @classmethod
    def load_records(cls, cfg: CfgNode, names: Sequence[str], is_train: bool) -> list[dict]:
        return load_kinetics_records(cfg, names, is_train)

    @classmethod
    def build_mapper(cls, cfg: CfgNode, is_train: bool) -> KineticsDatasetMapper:
        return KineticsDatasetMapper(cfg, is_train=is_train)

    @classmethod
    def build_evaluator(
        cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None
    ) -> KineticsEvaluator:
        return KineticsEvaluator(dataset_name, cfg, output_dir=output_folder or cfg.OUTPUT_DIR)
