#!/usr/bin/env python
"""Train and/or evaluate the AVA detector: ``python tools/train_ava.py --config CFG [opts...]``.

Detectron2's ``default_argument_parser`` and ``launch`` (multi-GPU and multi-machine DDP; without
CUDA, ``--num-gpus N`` runs N CPU processes on gloo). ``--gt-boxes`` evaluates on the ground-truth
boxes (``AVA.GT_BOXES``) and reports the mAP as GT-box mAP. Config keys and values, the weights
(``MODEL.WEIGHTS`` or the checkpoint ``--resume`` continues from), dataset names and data files are
checked before anything is trained; ``--eval-only`` needs ``MODEL.WEIGHTS`` (or
``MODEL.ALLOW_RANDOM_WEIGHTS True``).
"""

from __future__ import annotations

import os
import sys

from ava_detector.ava.config_checks import ava_config_problems
from ava_detector.ava.evaluation.results import (
    format_ava_results,
    save_results,
)
from ava_detector.ava.trainer import (
    AVATrainer,
    load_records,
    resolve_classes,
)
from ava_detector.engine.cli import (
    argument_parser,
    check_config,
    check_datasets,
    check_weights,
    is_main_process,
    load_cfg,
    run,
    setup_process,
)


def build_cfg(args):
    """The frozen config of ``args`` (file + opts + ``--gt-boxes``), with the class count resolved
    from the datasets' label maps; bad keys or a class-count mismatch raise ``SetupError``."""
    cfg = load_cfg(args)
    if args.gt_boxes:
        cfg.AVA.GT_BOXES = True
    resolve_classes(cfg)
    cfg.freeze()
    return cfg


def prepare(args) -> None:
    """Fail before launching on a bad config, unusable weights, an unknown dataset or missing data
    files."""
    cfg = build_cfg(args)
    check_config(cfg, args, task_checks=[ava_config_problems])
    check_weights(cfg, args, AVATrainer.checkpointer_class)
    check_datasets(cfg, args.eval_only, load_records, ("keyframes", "keyframes"))


def main(args):
    cfg = build_cfg(args)
    setup_process(cfg, args)
    if args.eval_only:
        results = AVATrainer.evaluate_weights(cfg, resume=args.resume)
    else:
        trainer = AVATrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        results = getattr(trainer, "_last_eval_results", None)
    if is_main_process() and results:
        names = list(cfg.DATASETS.TEST)
        if len(names) == 1 and names[0] not in results:  # DefaultTrainer.test unwraps one dataset
            results = {names[0]: results}
        # the evaluator has logged the per-class table (with #gt, #det and label-type groups)
        print(
            format_ava_results(
                results, cfg.DATASETS.TEST, gt_boxes=cfg.AVA.GT_BOXES, per_class=False
            )
        )
        save_results(results, os.path.join(cfg.OUTPUT_DIR, "ava_results.json"))
    return results


def cli(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--gt-boxes",
        action="store_true",
        help="evaluate on the ground-truth boxes (AVA.GT_BOXES); reports GT-box mAP",
    )
    return run("train_ava.py", parser.parse_args(argv), prepare, main)


if __name__ == "__main__":
    sys.exit(cli())
