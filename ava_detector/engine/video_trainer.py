"""``VideoTrainer``: Detectron2's ``DefaultTrainer`` for clip models, with no task in it.

What every video task shares lives here: the seeded resumable train loader, the inference loader,
mixed precision and the non-finite-loss stop (:class:`~ava_detector.engine.train_loop.VideoTrainLoop`),
the checkpointer hook (weights, resume, a rewritten ``model_final.pth`` after a kill at the end),
SGD groups and the warm-up schedule. A task subclasses it and overrides what differs, the way
Detectron2's projects sit on ``DefaultTrainer``:

- :meth:`load_records` — the dataset dicts of a split (required);
- :meth:`build_mapper` — record -> model input (required);
- :meth:`build_evaluator` — Detectron2's ``DatasetEvaluator`` for a test set (required to evaluate);
- ``checkpointer_class`` — how ``MODEL.WEIGHTS`` is loaded (default :class:`VideoCheckpointer`).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultTrainer, TrainerBase, create_ddp_model
from detectron2.evaluation import DatasetEvaluator
from detectron2.solver import build_lr_scheduler, build_optimizer
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ava_detector.checkpoint.checkpointer import VideoCheckpointer, checkpoint_problem
from ava_detector.data.video.pyav_source import VIDEO_CACHE, VIDEO_CACHE_BYTES_PER_RUN
from ava_detector.engine.data_loading import ResumableLoader, build_inference_loader
from ava_detector.engine.train_loop import VideoTrainLoop, amp_dtype

__all__ = ["VideoTrainer", "require_registered", "resolve_seed"]

logger = logging.getLogger(__name__)


def resolve_seed(cfg: CfgNode) -> int:
    """The data/dropout seed: ``cfg.SEED``, or one random seed shared by all ranks when < 0."""
    return int(cfg.SEED) if cfg.SEED >= 0 else int(comm.shared_random_seed())


def require_registered(names: Sequence[str], kind: str, keywords: tuple[str, ...]) -> None:
    """Fail clearly on no dataset or names ``DatasetCatalog`` does not know, listing the
    registered ``kind`` datasets (names containing one of ``keywords``)."""
    if not names:
        raise ValueError("no dataset given (DATASETS.TRAIN / DATASETS.TEST is empty)")
    registered = DatasetCatalog.list()
    unknown = [n for n in names if n not in registered]
    if unknown:
        known = ", ".join(sorted(n for n in registered if any(k in n for k in keywords)))
        raise KeyError(f"unknown dataset name(s) {unknown}; registered {kind} datasets: {known}")


class VideoTrainer(DefaultTrainer):
    """Training of a clip model: seeded resumable loader, SGD groups, warm-up schedule, AMP, NaN stop.

    Everything else (hooks, writers, evaluation during training, checkpoint period) is
    ``DefaultTrainer``'s. The training records are loaded before the model is built, so a missing
    file or an unknown dataset fails before anything expensive happens.

    Args:
        cfg: a config with the project's keys (:func:`~ava_detector.config.defaults.add_ava_config`).
    """

    checkpointer_class: type[VideoCheckpointer] = VideoCheckpointer

    def __init__(self, cfg: CfgNode) -> None:
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        self.seed = resolve_seed(cfg)
        data_loader = self.build_train_loader(cfg, seed=self.seed)
        # The initial weights and every later draw of torch's generator (dropout) come from the
        # seed, whatever state the generator was in: the seed default_setup gives this rank, so
        # the tools' runs are unchanged, and a trainer built directly (tests, notebooks) no longer
        # starts from a different network on every run.
        torch.manual_seed(self.seed + comm.get_rank())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        # On CPU (gloo) DDP takes no device_ids.
        on_cuda = str(cfg.MODEL.DEVICE).startswith("cuda")
        ddp_kwargs = {} if on_cuda else {"device_ids": None}
        model = create_ddp_model(model, broadcast_buffers=False, **ddp_kwargs)
        amp = self.amp_enabled(cfg)
        self._trainer = VideoTrainLoop(
            model,
            data_loader,
            optimizer,
            seed=self.seed,
            amp=amp,
            dtype=amp_dtype(cfg.SOLVER.AMP.DTYPE),
            stop_on_nan=cfg.SOLVER.STOP_ON_NAN,
        )
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = self.checkpointer_class(
            model,
            cfg.OUTPUT_DIR,
            backbone_only=cfg.MODEL.WEIGHTS_BACKBONE_ONLY,
            trainer=weakref.proxy(self),
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    # ------------------------------------------------------------------ what a task provides
    @classmethod
    def load_records(cls, cfg: CfgNode, names: Sequence[str], is_train: bool) -> list[dict]:
        """The dataset dicts of ``names`` for training (``is_train``) or inference."""
        raise NotImplementedError(f"{cls.__name__} must define load_records(cfg, names, is_train)")

    @classmethod
    def build_mapper(cls, cfg: CfgNode, is_train: bool) -> Callable[[dict], Any]:
        """The record -> model input mapper of the task."""
        raise NotImplementedError(f"{cls.__name__} must define build_mapper(cfg, is_train)")

    # ------------------------------------------------------------------ shared
    @staticmethod
    def amp_enabled(cfg: CfgNode) -> bool:
        """``SOLVER.AMP.ENABLED`` on CUDA; on CPU it is forced off (with a log line)."""
        if not cfg.SOLVER.AMP.ENABLED:
            return False
        if not str(cfg.MODEL.DEVICE).startswith("cuda") or not torch.cuda.is_available():
            logger.info(
                "SOLVER.AMP.ENABLED ignored: mixed precision runs on CUDA only (device %s)",
                cfg.MODEL.DEVICE,
            )
            return False
        return True

    def resume_or_load(self, resume: bool = True) -> None:
        """Detectron2's resume (from the newest complete checkpoint, see ``VideoCheckpointer``), then
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
                logger.warning(
                    "%s: %s; writing it again from the resumed checkpoint (iteration %d of %d)",
                    final,
                    problem,
                    self.start_iter,
                    self.max_iter,
                )
                self.checkpointer.save("model_final", iteration=self.start_iter - 1)

    def state_dict(self) -> dict:
        """Also the optimizer (and AMP scaler) state: Detectron2 0.6's ``DefaultTrainer`` saves only
        the iteration and the hooks, so a resumed run would restart SGD momentum and lr."""
        ret = super().state_dict()
        ret["_trainer"] = self._trainer.state_dict()
        order = getattr(self._trainer.data_loader, "order", None)
        if order is not None:
            ret["data_order"] = dict(order)
        return ret

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])
        saved = state_dict.get("data_order")
        order = getattr(self._trainer.data_loader, "order", None)
        if saved is not None and order is not None and dict(saved) != dict(order):
            logger.warning(
                "the checkpoint was trained with the sample order %s, this run draws %s "
                "(DATALOADER.CONSECUTIVE_KEYFRAMES, _IN, NUM_WORKERS or the batch changed): the "
                "samples from here on are not those of an uninterrupted run",
                dict(saved),
                dict(order),
            )

    @classmethod
    def build_train_loader(
        cls, cfg: CfgNode, seed: int | None = None, records: list[dict] | None = None
    ) -> ResumableLoader:
        """The seeded resumable loader over ``DATASETS.TRAIN`` (per-process batch size). With runs
        of consecutive keyframes spread over a worker's batches, the process's video cache keeps a
        batch's worth of videos open, a file once per run in it (the workers fork from here and
        inherit the bounds).

        Args:
            cfg: the config (``SOLVER.IMS_PER_BATCH``, ``DATALOADER.*``, ``SEED``).
            seed: the loader's seed (default: :func:`resolve_seed` of ``cfg``).
            records: training records to load instead of ``DATASETS.TRAIN``'s (a benchmark's
                generated set).
        """
        batch = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        runs = cfg.DATALOADER.get("CONSECUTIVE_KEYFRAMES", 1)
        runs_in = cfg.DATALOADER.get("CONSECUTIVE_KEYFRAMES_IN", "worker")
        if runs > 1 and runs_in == "worker":
            VIDEO_CACHE.ensure(batch, batch * VIDEO_CACHE_BYTES_PER_RUN, per_video=batch)
        if records is None:
            records = cls.load_records(cfg, cfg.DATASETS.TRAIN, is_train=True)
        return ResumableLoader(
            records,
            cls.build_mapper(cfg, is_train=True),
            batch_size=batch,
            seed=resolve_seed(cfg) if seed is None else seed,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
            consecutive_keyframes=runs,
            runs_in=runs_in,
        )

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str) -> torch.utils.data.DataLoader:
        """The inference loader over one test set (``TEST.IMS_PER_BATCH`` clips a batch)."""
        return build_inference_loader(
            cls.load_records(cfg, [dataset_name], is_train=False),
            cls.build_mapper(cfg, is_train=False),
            batch_size=cfg.TEST.IMS_PER_BATCH,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    @classmethod
    def evaluate_weights(cls, cfg: CfgNode, resume: bool = False) -> dict:
        """``--eval-only``: the model of ``cfg`` with ``MODEL.WEIGHTS`` (or, with ``resume``, the
        newest complete checkpoint of ``OUTPUT_DIR``), evaluated on ``DATASETS.TEST``. Every tensor
        must come from the file unless ``MODEL.ALLOW_RANDOM_WEIGHTS``.

        Args:
            cfg: the frozen config of the run.
            resume: prefer ``OUTPUT_DIR``'s last checkpoint over ``MODEL.WEIGHTS``.
        """
        model = cls.build_model(cfg)
        complete = not cfg.MODEL.ALLOW_RANDOM_WEIGHTS
        checkpointer = cls.checkpointer_class(model, cfg.OUTPUT_DIR, require_complete=complete)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
        return cls.test(cfg, model)

    @classmethod
    def build_evaluator(
        cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None
    ) -> DatasetEvaluator:
        raise NotImplementedError(f"{cls.__name__} must define build_evaluator to evaluate")

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        """SGD (momentum, Nesterov); no weight decay on norm layers (WEIGHT_DECAY_NORM) and biases
        (WEIGHT_DECAY_BIAS); gradient clipping from SOLVER.CLIP_GRADIENTS."""
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(
        cls, cfg: CfgNode, optimizer: torch.optim.Optimizer
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """Linear warm-up then steps (WarmupMultiStepLR) or cosine (WarmupCosineLR)."""
        return build_lr_scheduler(cfg, optimizer)
