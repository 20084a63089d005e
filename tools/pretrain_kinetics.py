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

import logging
import sys

import torch
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ava_detector.checkpoint import AVACheckpointer
from ava_detector.config import get_ava_cfg
from ava_detector.data import AVAFormatError
from ava_detector.engine import launch
from ava_detector.engine.kinetics_trainer import KineticsTrainer, load_kinetics_records

logger = logging.getLogger("ava_detector")


class SetupError(RuntimeError):
    """A problem with the command line, the config or the data, found before training."""


def build_cfg(args):
    """The frozen config of ``args`` (file + opts); bad keys raise :class:`SetupError`."""
    cfg = get_ava_cfg()
    try:
        if args.config_file:
            cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
    except (KeyError, ValueError, AssertionError, FileNotFoundError) as err:
        raise SetupError(f"bad configuration ({args.config_file or 'no file'} + opts): {err}") from err
    if cfg.MODEL.META_ARCHITECTURE != "VideoClassifier":
        raise SetupError(
            f"MODEL.META_ARCHITECTURE is {cfg.MODEL.META_ARCHITECTURE!r}; Kinetics pretraining "
            "needs 'VideoClassifier' (use a configs/kinetics/ or configs/synthetic/tiny_kinetics config)"
        )
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def check_data(cfg, eval_only: bool) -> None:
    """Read every list the run needs (train unless ``eval_only``, and test) or fail clearly."""
    splits = ([] if eval_only else [(cfg.DATASETS.TRAIN, True)]) + [(cfg.DATASETS.TEST, False)]
    for names, is_train in splits:
        try:
            n = len(load_kinetics_records(cfg, names, is_train=is_train))
        except (KeyError, ValueError, FileNotFoundError, AVAFormatError) as err:
            raise SetupError(f"dataset {list(names)}: {err}") from err
        logger.info("%s: %d %s", list(names), n, "videos" if is_train else "test views")


def main(args):
    cfg = build_cfg(args)
    default_setup(cfg, args)
    # the evaluator's report (left-out videos, confused classes) logs under "ava_detector"
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="ava_detector")
    if cfg.MODEL.DEVICE == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads() // comm.get_local_size()))
    if args.eval_only:
        model = KineticsTrainer.build_model(cfg)
        AVACheckpointer(model, cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return KineticsTrainer.test(cfg, model)
    trainer = KineticsTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    trainer.train()
    return getattr(trainer, "_last_eval_results", None)


def argument_parser():
    parser = default_argument_parser(epilog=__doc__)
    parser.add_argument("--config", dest="config_file", metavar="FILE",
                        help="alias of --config-file")
    return parser


def cli(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    try:
        cfg = build_cfg(args)
        check_data(cfg, args.eval_only)
    except SetupError as err:
        print(f"pretrain_kinetics.py: error: {err}", file=sys.stderr)
        return 2
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
