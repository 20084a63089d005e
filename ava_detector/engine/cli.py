"""What ``tools/train_ava.py`` and ``tools/pretrain_kinetics.py`` share: Detectron2's argument parser
with ``--config``, config loading that fails before training, CPU thread sharing, and the launch.

The tools import Detectron2 through this module, after ``ava_detector`` has set up its warning
filters, so a command line prints no import-time deprecation noise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable

import torch
from detectron2.config import CfgNode
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.comm import is_main_process
from detectron2.utils.logger import setup_logger

from ..config import get_ava_cfg
from ..data import AVAFormatError
from .launch import launch

# is_main_process: Detectron2's, re-exported so the tools need no Detectron2 import of their own.
__all__ = ["SetupError", "argument_parser", "check_datasets", "is_main_process", "load_cfg", "run",
           "setup_process"]

logger = logging.getLogger("ava_detector")


class SetupError(RuntimeError):
    """A problem with the command line, the config or the data, found before training."""


def argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """Detectron2's ``default_argument_parser`` (``--config-file``, ``--resume``, ``--eval-only``,
    ``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``, ``KEY VALUE`` opts)
    with ``--config`` as an alias of ``--config-file``."""
    parser = default_argument_parser(epilog=epilog)
    parser.add_argument("--config", dest="config_file", metavar="FILE",
                        help="alias of --config-file")
    return parser


def load_cfg(args: argparse.Namespace) -> CfgNode:
    """The (unfrozen) config of ``args``: defaults + file + opts, on CPU when CUDA is absent.
    A bad file or key raises :class:`SetupError`."""
    cfg = get_ava_cfg()
    try:
        if args.config_file:
            cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
    except (KeyError, ValueError, AssertionError, FileNotFoundError) as err:
        raise SetupError(f"bad configuration ({args.config_file or 'no file'} + opts): {err}") from err
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def check_datasets(cfg: CfgNode, eval_only: bool, load: Callable[[CfgNode, Iterable[str], bool], list],
                   units: tuple[str, str]) -> None:
    """Load every split the run needs (train unless ``eval_only``, then test) with ``load(cfg,
    names, is_train)`` and print its size in ``units`` (train, test); any data problem raises
    :class:`SetupError`."""
    splits = ([] if eval_only else [(cfg.DATASETS.TRAIN, True)]) + [(cfg.DATASETS.TEST, False)]
    for names, is_train in splits:
        if not names and not is_train:
            continue  # no evaluation
        try:
            n = len(load(cfg, names, is_train))
        except (KeyError, ValueError, FileNotFoundError, AVAFormatError) as err:
            raise SetupError(f"dataset {list(names)}: {err}") from err
        print(f"{'train' if is_train else 'test'} data {list(names)}: {n} {units[not is_train]}")


def setup_process(cfg: CfgNode, args: argparse.Namespace) -> None:
    """Detectron2's ``default_setup`` (output dir, logs, config dump, seed) in each process, this
    project's log (console and ``OUTPUT_DIR/log.txt``: evaluator tables, skipped samples), and CPU
    threads: the cores left by the data workers, shared by this machine's processes (oversubscribed
    OpenMP threads spin and can slow a small model down by 10x). ``OMP_NUM_THREADS`` wins."""
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="ava_detector")
    if cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        free = (os.cpu_count() or 1) - cfg.DATALOADER.NUM_WORKERS
        torch.set_num_threads(max(1, free // comm.get_local_size()))
        logger.info("CPU: %d intra-op threads per process", torch.get_num_threads())


def run(prog: str, args: argparse.Namespace, prepare: Callable[[argparse.Namespace], None],
        main: Callable[[argparse.Namespace], object]) -> int:
    """``prepare(args)`` (config and data checks, raising :class:`SetupError`) in this process, then
    ``main(args)`` in every launched process. Returns the exit status: 2 for a setup error."""
    try:
        prepare(args)
    except SetupError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
    return 0
