#!/usr/bin/env python
"""Pretrain / evaluate a SlowFast video classifier on Kinetics: ``python tools/pretrain_kinetics.py
--config CFG [opts...]``.

The same conventions as ``tools/train_ava.py``: Detectron2's ``default_argument_parser`` (``--resume``,
``--eval-only``, ``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``, ``KEY VALUE``
overrides), ``--config`` as an alias of ``--config-file``, and ``launch`` (without CUDA ``--num-gpus N``
runs N CPU processes on gloo). Test accuracy is top-1/top-5 per video over TEST_NUM_CLIPS x
TEST_NUM_CROPS views. The ``model_final.pth`` written here is a ``MODEL.WEIGHTS`` for
``tools/train_ava.py`` (backbone loaded, classifier skipped, iteration 0).
"""

from __future__ import annotations

import sys

from ava_detector.checkpoint import AVACheckpointer
from ava_detector.engine.cli import (
    SetupError,
    argument_parser,
    check_datasets,
    load_cfg,
    run,
    setup_process,
)
from ava_detector.engine.kinetics_trainer import KineticsTrainer, load_kinetics_records


def build_cfg(args):
    """The frozen config of ``args`` (file + opts); a bad key or a non-classifier config raises
    ``SetupError``."""
    cfg = load_cfg(args)
    if cfg.MODEL.META_ARCHITECTURE != "VideoClassifier":
        raise SetupError(
            f"MODEL.META_ARCHITECTURE is {cfg.MODEL.META_ARCHITECTURE!r}; Kinetics pretraining "
            "needs 'VideoClassifier' (use a configs/kinetics/ or configs/synthetic/tiny_kinetics config)"
        )
    cfg.freeze()
    return cfg


def prepare(args) -> None:
    """Fail before launching on a bad config, an unknown dataset or an unreadable list."""
    check_datasets(build_cfg(args), args.eval_only, load_kinetics_records, ("videos", "test views"))


def main(args):
    cfg = build_cfg(args)
    setup_process(cfg, args)
    if args.eval_only:
        model = KineticsTrainer.build_model(cfg)
        AVACheckpointer(model, cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return KineticsTrainer.test(cfg, model)
    trainer = KineticsTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()
    return getattr(trainer, "_last_eval_results", None)


def cli(argv: list[str] | None = None) -> int:
    return run("pretrain_kinetics.py", argument_parser(__doc__).parse_args(argv), prepare, main)


if __name__ == "__main__":
    sys.exit(cli())
