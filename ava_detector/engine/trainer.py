"""``AVATrainer``: Detectron2's ``DefaultTrainer`` wired to the AVA data, model and evaluator."""

from __future__ import annotations

import logging
import os
import weakref

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultTrainer, TrainerBase, create_ddp_model
from detectron2.solver import build_lr_scheduler, build_optimizer
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint import AVACheckpointer, checkpoint_problem
from ..data.errors import AVAFormatError
from .checkpoint import AVATrainingCheckpointer
from .data_loading import ResumableLoader, build_ava_test_loader
from .train_loop import AVATrainLoop, amp_dtype

__all__ = ["AVATrainer", "load_records", "resolve_seed"]

logger = logging.getLogger(__name__)


def resolve_seed(cfg) -> int:
    """The data/dropout seed: ``cfg.SEED``, or one random seed shared by all ranks when < 0."""
    return int(cfg.SEED) if cfg.SEED >= 0 else int(comm.shared_random_seed())


def require_registered(names, kind: str, keywords: tuple[str, ...]) -> None:
    """Fail clearly on no dataset or names ``DatasetCatalog`` does not know, listing the
    registered ``kind`` datasets (names containing one of ``keywords``)."""
    if not names:
        raise ValueError("no dataset given (DATASETS.TRAIN / DATASETS.TEST is empty)")
    registered = DatasetCatalog.list()
    unknown = [n for n in names if n not in registered]
    if unknown:
        known = ", ".join(sorted(n for n in registered if any(k in n for k in keywords)))
        raise KeyError(f"unknown dataset name(s) {unknown}; registered {kind} datasets: {known}")


def resolve_classes(cfg) -> None:
    """Set ``MODEL.ROI_HEADS.NUM_CLASSES`` (0 = from the label maps) from the datasets of
    ``DATASETS.TRAIN`` / ``DATASETS.TEST`` (registered from ``AVA.*`` first); a disagreement raises
    :class:`~ava_detector.engine.cli.SetupError` naming the key and the label map."""
    from ava_detector.data.ava.classes import resolve_cfg_num_classes

    from .cli import SetupError

    try:
        resolve_cfg_num_classes(cfg)
    except (ValueError, AVAFormatError) as err:
        raise SetupError(str(err)) from None


def load_records(cfg, names: tuple[str, ...] | list[str], is_train: bool) -> list[dict]:
    """The records of the datasets ``names`` with the boxes the config selects (train / test /
    GT-box mode, mini-val subsampling), failing with a clear message for unknown names or no data.
    """
    from ava_detector.data.ava import records_for_cfg, register_ava_from_cfg

    register_ava_from_cfg(cfg)
    require_registered(names, "AVA/Kinetics", ("ava", "kinetics"))
    records = [r for n in names for r in records_for_cfg(n, cfg, is_train=is_train)]
    if not records:
        split = "train" if is_train else "test"
        raise ValueError(f"datasets {list(names)} hold no keyframe with boxes to {split} on")
    return records


class AVATrainer(DefaultTrainer):
    """AVA training: seeded resumable loader, SGD groups, warm-up schedule, AMP, NaN stop.

    Everything else (hooks, writers, evaluation during training, checkpoint period) is
    ``DefaultTrainer``'s. The training records are loaded before the model is built, so a missing
    file or an unknown dataset fails before anything expensive happens.
    """

    # Loads MODEL.WEIGHTS and resumes; AVA's keeps only the backbone of classification weights.
    checkpointer_class: type[AVACheckpointer] = AVATrainingCheckpointer

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        self.seed = resolve_seed(cfg)
        data_loader = self.build_train_loader(cfg, seed=self.seed)
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        # On CPU (gloo) DDP takes no device_ids.
        on_cuda = str(cfg.MODEL.DEVICE).startswith("cuda")
        ddp_kwargs = {} if on_cuda else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_kwargs)
        amp = self.amp_enabled(cfg)
        self._trainer = AVATrainLoop(
            model, data_loader, optimizer, seed=self.seed, amp=amp,
            dtype=amp_dtype(cfg.SOLVER.AMP.DTYPE), stop_on_nan=cfg.SOLVER.STOP_ON_NAN,
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = self.checkpointer_class(
            model, cfg.OUTPUT_DIR, backbone_only=cfg.MODEL.WEIGHTS_BACKBONE_ONLY,
            trainer=weakref.proxy(self),
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @staticmethod
    def amp_enabled(cfg) -> bool:
        """``SOLVER.AMP.ENABLED`` on CUDA; on CPU it is forced off (with a log line)."""
        if not cfg.SOLVER.AMP.ENABLED:
            return False
        if not str(cfg.MODEL.DEVICE).startswith("cuda") or not torch.cuda.is_available():
            logger.info("SOLVER.AMP.ENABLED ignored: mixed precision runs on CUDA only (device %s)",
                        cfg.MODEL.DEVICE)
            return False
        return True

    def resume_or_load(self, resume: bool = True):
        """Detectron2's resume (from the newest complete checkpoint, see ``AVACheckpointer``), then
        the train loader continues at the resumed iteration.

        A run resumed at its end (a kill while ``model_final.pth`` was written leaves the last
        periodic checkpoint, of the same weights) writes a missing or damaged ``model_final.pth``
        again: nothing is left to train, so the loop would not.

        Args:
            resume: continue from ``OUTPUT_DIR`` when it holds a complete checkpoint.
        """
        super().resume_or_load(resume=resume)
        self._trainer.data_loader.start_iter = self.start_iter
        if resume and self.start_iter >= self.max_iter and comm.is_main_process():
            final = os.path.join(self.cfg.OUTPUT_DIR, "model_final.pth")
            problem = checkpoint_problem(final)
            if problem is not None:
                logger.warning("%s: %s; writing it again from the resumed checkpoint (iteration "
                               "%d of %d)", final, problem, self.start_iter, self.max_iter)
                self.checkpointer.save("model_final", iteration=self.start_iter - 1)

    def state_dict(self) -> dict:
        """Also the optimizer (and AMP scaler) state: Detectron2 0.6's ``DefaultTrainer`` saves only
        the iteration and the hooks, so a resumed run would restart SGD momentum and lr."""
        ret = super().state_dict()
        ret["_trainer"] = self._trainer.state_dict()
        return ret

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])

    @classmethod
    def build_mapper(cls, cfg, is_train: bool):
        """The record -> model input mapper (``AVADatasetMapper``)."""
        from ava_detector.data import AVADatasetMapper

        return AVADatasetMapper(cfg, is_train=is_train)

    @classmethod
    def build_train_loader(cls, cfg, seed: int | None = None) -> ResumableLoader:
        records = load_records(cfg, cfg.DATASETS.TRAIN, is_train=True)
        return ResumableLoader(
            records, cls.build_mapper(cfg, is_train=True),
            batch_size=cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size(),
            seed=resolve_seed(cfg) if seed is None else seed,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        records = load_records(cfg, [dataset_name], is_train=False)
        return build_ava_test_loader(
            records, cls.build_mapper(cfg, is_train=False),
            batch_size=cfg.TEST.IMS_PER_BATCH, num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder: str | None = None):
        """``AVAEvaluator`` with ``AVA.EVAL_PROTOCOL``; detections CSV and AP chart go to
        ``OUTPUT_DIR/inference/<dataset>``."""
        from ava_detector.evaluation import AVAEvaluator

        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        if comm.is_main_process():
            os.makedirs(output_folder, exist_ok=True)
        return AVAEvaluator(dataset_name, output_dir=output_folder, protocol=cfg.AVA.EVAL_PROTOCOL,
                            gt_boxes=cfg.AVA.GT_BOXES,
                            every_k_seconds=cfg.AVA.EVAL_EVERY_K_SECONDS,
                            class_ids=cfg.AVA.CLASS_SUBSET or None)

    @classmethod
    def build_optimizer(cls, cfg, model):
        """SGD (momentum, Nesterov); no weight decay on norm layers (WEIGHT_DECAY_NORM) and biases
        (WEIGHT_DECAY_BIAS); gradient clipping from SOLVER.CLIP_GRADIENTS."""
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        """Linear warm-up then steps (WarmupMultiStepLR) or cosine (WarmupCosineLR)."""
        return build_lr_scheduler(cfg, optimizer)
