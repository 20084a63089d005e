#!/usr/bin/env python
"""Train and/or evaluate the AVA detector: ``python tools/train_ava.py --config CFG [opts...]``.

Detectron2's ``default_argument_parser`` and ``launch`` (multi-GPU and multi-machine DDP; without
CUDA, ``--num-gpus N`` runs N CPU processes on gloo). ``--gt-boxes`` evaluates on the ground-truth
boxes (``AVA.GT_BOXES``) and reports the mAP as GT-box mAP. Config keys, dataset names and data
files are checked before anything is trained.
"""

from __future__ import annotations

import logging
import os
import sys

import torch
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm

from ava_detector.config import get_ava_cfg
from ava_detector.data import AVAFormatError
from ava_detector.engine import AVATrainer, AVATrainingCheckpointer, launch
from ava_detector.engine.reporting import format_ava_results, save_results
from ava_detector.engine.trainer import load_records

logger = logging.getLogger("ava_detector")


class SetupError(RuntimeError):
    """A problem with the command line, the config or the data, found before training."""


def build_cfg(args):
    """The frozen config of ``args`` (file + opts + flags); bad keys raise :class:`SetupError`."""
    cfg = get_ava_cfg()
    try:
        if args.config_file:
            cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
    except (KeyError, ValueError, AssertionError, FileNotFoundError) as err:
        raise SetupError(f"bad configuration ({args.config_file or 'no file'} + opts): {err}") from err
    if args.gt_boxes:
        cfg.AVA.GT_BOXES = True
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    return cfg


def check_data(cfg, eval_only: bool) -> None:
    """Load every dataset the run needs (train unless ``eval_only``, and test) or fail clearly."""
    splits = ([] if eval_only else [(cfg.DATASETS.TRAIN, True)]) + [(cfg.DATASETS.TEST, False)]
    for names, is_train in splits:
        if not names and not is_train:
            continue  # no evaluation
        try:
            n = len(load_records(cfg, names, is_train=is_train))
        except (KeyError, ValueError, FileNotFoundError, AVAFormatError) as err:
            raise SetupError(f"dataset {list(names)}: {err}") from err
        print(f"{'train' if is_train else 'test'} data {list(names)}: {n} keyframes")


def main(args):
    cfg = build_cfg(args)
    default_setup(cfg, args)
    if cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Cores left by the data workers, shared by the local processes: oversubscribed OpenMP
        # threads spin and can slow a small model down by 10x.
        free = (os.cpu_count() or 1) - cfg.DATALOADER.NUM_WORKERS
        torch.set_num_threads(max(1, free // comm.get_local_size()))
        logger.info("CPU: %d intra-op threads per process", torch.get_num_threads())
    if args.eval_only:
        model = AVATrainer.build_model(cfg)
        AVATrainingCheckpointer(model, cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = AVATrainer.test(cfg, model)
    else:
        trainer = AVATrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        results = getattr(trainer, "_last_eval_results", None)
    if comm.is_main_process() and results:
        names = list(cfg.DATASETS.TEST)
        if len(names) == 1 and names[0] not in results:  # DefaultTrainer.test unwraps one dataset
            results = {names[0]: results}
        print(format_ava_results(results, cfg.DATASETS.TEST, gt_boxes=cfg.AVA.GT_BOXES))
        save_results(results, os.path.join(cfg.OUTPUT_DIR, "ava_results.json"))
    return results


def argument_parser():
    parser = default_argument_parser(epilog=__doc__)
    parser.add_argument("--config", dest="config_file", metavar="FILE",
                        help="alias of --config-file")
    parser.add_argument("--gt-boxes", action="store_true",
                        help="evaluate on the ground-truth boxes (AVA.GT_BOXES); reports GT-box mAP")
    return parser


def cli(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    try:
        cfg = build_cfg(args)
        check_data(cfg, args.eval_only)
    except SetupError as err:
        print(f"train_ava.py: error: {err}", file=sys.stderr)
        return 2
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
