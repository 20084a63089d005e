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

from ava_detector.engine.cli import (
    argument_parser,
    check_config,
    check_datasets,
    check_weights,
    load_cfg,
    run,
    setup_process,
)
from ava_detector.kinetics.config_checks import kinetics_config_problems
from ava_detector.kinetics.trainer import (
    KineticsTrainer,
    load_kinetics_records,
)


def build_cfg(args):
    """The frozen config of ``args`` (file + opts); a bad key raises ``SetupError``."""
    cfg = load_cfg(args)
    cfg.freeze()
    return cfg


def prepare(args) -> None:
    """Fail before launching on a bad config (e.g. not a ``VideoClassifier``), unusable weights, an
    unknown dataset or an unreadable list."""
    cfg = build_cfg(args)
    check_config(
        cfg,
        args,
        expected_meta_architecture="VideoClassifier",
        task_checks=[kinetics_config_problems],
    )
    check_weights(cfg, args, KineticsTrainer.checkpointer_class)
    check_datasets(cfg, args.eval_only, load_kinetics_records, ("videos", "test views"))


def main(args):
    cfg = build_cfg(args)
    setup_process(cfg, args)
    if args.eval_only:
        return KineticsTrainer.evaluate_weights(cfg, resume=args.resume)
    trainer = KineticsTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()
    return getattr(trainer, "_last_eval_results", None)


def cli(argv: list[str] | None = None) -> int:
    return run("pretrain_kinetics.py", argument_parser(__doc__).parse_args(argv), prepare, main)


if __name__ == "__main__":
    sys.exit(cli())
