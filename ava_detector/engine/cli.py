"""What ``tools/train_ava.py`` and ``tools/pretrain_kinetics.py`` share: Detectron2's argument parser
with ``--config``, config loading that fails before training, CPU thread sharing, and the launch.

Before anything is launched (:func:`run`'s ``prepare``): the config values are checked
(:mod:`.config_checks`), the weights the run starts from (the checkpoint ``--resume`` picks, or
``MODEL.WEIGHTS``) are loaded safely into a CPU copy of the model (:func:`check_weights`), and the
datasets are read (:func:`check_datasets`). Each problem is one line on stderr and exit code 2.

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
import yaml
from detectron2.config import CfgNode
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.comm import is_main_process
from detectron2.utils.logger import setup_logger

from ava_detector.checkpoint.checkpointer import SafeDetectionCheckpointer
from ava_detector.checkpoint.safe_load import CheckpointError
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.errors import InputFileError
from ava_detector.engine.config_checks import TaskCheck, config_problems
from ava_detector.engine.launch import launch
from ava_detector.utils.atomic_files import remove_stray_temporaries

# is_main_process: Detectron2's, re-exported so the tools need no Detectron2 import of their own.
__all__ = [
    "SetupError",
    "argument_parser",
    "check_config",
    "check_datasets",
    "check_weights",
    "check_yaml_file",
    "is_main_process",
    "load_cfg",
    "remove_stray_files",
    "run",
    "setup_process",
]

logger = logging.getLogger("ava_detector")


class SetupError(RuntimeError):
    """A problem with the command line, the config or the data, found before training."""


def argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """Detectron2's ``default_argument_parser`` (``--config-file``, ``--resume``, ``--eval-only``,
    ``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``, ``KEY VALUE`` opts)
    with ``--config`` as an alias of ``--config-file``."""
    parser = default_argument_parser(epilog=epilog)
    parser.add_argument(
        "--config", dest="config_file", metavar="FILE", help="alias of --config-file"
    )
    return parser


def check_yaml_file(path: str) -> None:
    """Refuse a config file (or one of its ``_BASE_`` files) that is not plain YAML: tags such as
    ``!!python/object/apply`` would run code under Detectron2's ``yaml.unsafe_load`` fallback.

    Args:
        path: the config file.

    Raises:
        ValueError: one line naming the file.
    """
    try:
        CfgNode.load_yaml_with_base(path, allow_unsafe=False)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"{path}: not a plain YAML config ({detail})") from None


def load_cfg(args: argparse.Namespace) -> CfgNode:
    """The (unfrozen) config of ``args``: defaults + file + opts, on CPU when CUDA is absent.
    A bad file or key raises :class:`SetupError`; YAML tags that would build Python objects are
    refused (no ``yaml.unsafe_load``).

    Args:
        args: the parsed command line (``config_file``, ``opts``).
    """
    cfg = get_ava_cfg()
    try:
        if args.config_file:
            cfg.merge_from_file(args.config_file, allow_unsafe=False)
        cfg.merge_from_list(args.opts)
    except (KeyError, ValueError, AssertionError, FileNotFoundError, yaml.YAMLError) as err:
        detail = " ".join(str(err).split())
        raise SetupError(
            f"bad configuration ({args.config_file or 'no file'} + opts): {detail}"
        ) from err
    if str(cfg.MODEL.DEVICE).startswith("cuda") and not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def world_size(args: argparse.Namespace) -> int:
    """Processes over all machines of a run.

    Args:
        args: the parsed command line (``num_gpus``, ``num_machines``).
    """
    return max(1, int(args.num_gpus)) * max(1, int(args.num_machines))


def check_config(
    cfg: CfgNode,
    args: argparse.Namespace,
    expected_meta_architecture: str | None = None,
    task_checks: Iterable[TaskCheck] = (),
) -> None:
    """:func:`~.config_checks.config_problems` for this run: the first error raises
    :class:`SetupError`; warnings are printed to stderr.

    Args:
        cfg: the merged config.
        args: the parsed command line (``eval_only``, ``resume``, ``num_gpus``, ``num_machines``).
        expected_meta_architecture: the architecture the tool runs (None: any registered one).
        task_checks: the task's checks of its own keys (``config_problems``'s).
    """
    from detectron2.modeling import META_ARCH_REGISTRY

    from ava_detector.data.video.frame_source import frame_source_names

    problems = config_problems(
        cfg,
        eval_only=args.eval_only,
        resume=args.resume,
        world_size=world_size(args),
        meta_architectures=[name for name, _ in META_ARCH_REGISTRY],
        frame_sources=frame_source_names(),
        expected_meta_architecture=expected_meta_architecture,
        task_checks=task_checks,
    )
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise SetupError(errors[0].message)
    args.config_warnings = [p.message for p in problems]  # logged again by setup_process
    for message in args.config_warnings:
        print(f"WARNING: {message}", file=sys.stderr)


class _Quiet:
    """Silence the loggers of the weights probe (missing-key and unmapped-tensor listings): the run
    itself logs them again, into its log file."""

    names = ("fvcore", "detectron2", "ava_detector.checkpoint", "ava_detector.ava.checkpointer")

    def __enter__(self) -> None:
        self.levels = {n: logging.getLogger(n).level for n in self.names}
        for n in self.names:
            logging.getLogger(n).setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        for n, level in self.levels.items():
            logging.getLogger(n).setLevel(level)


def check_weights(cfg: CfgNode, args: argparse.Namespace, checkpointer_class: type) -> str:
    """Load the weights the run will start from into a CPU copy of the model, as the run will.

    That is the checkpoint ``--resume`` picks in ``OUTPUT_DIR`` (newest complete one), else
    ``MODEL.WEIGHTS``. A file that would run code, a damaged file, tensors of other shapes (unless
    ``MODEL.WEIGHTS_BACKBONE_ONLY``) and, for ``--eval-only``, model tensors missing from the file
    raise :class:`SetupError` naming the file. Returns the file checked ("" for none).

    Args:
        cfg: the merged config.
        args: the parsed command line (``resume``, ``eval_only``).
        checkpointer_class: the run's checkpointer (e.g. ``AVATrainingCheckpointer``).
    """
    from detectron2.modeling import build_model

    resumed = path = ""
    try:
        if args.resume:
            finder = SafeDetectionCheckpointer(
                torch.nn.Module(), cfg.OUTPUT_DIR, save_to_disk=False
            )
            resumed = finder.find_resume_checkpoint()
        path = resumed or cfg.MODEL.WEIGHTS
        if not path:
            if args.eval_only and not cfg.MODEL.ALLOW_RANDOM_WEIGHTS:
                raise SetupError(
                    f"MODEL.WEIGHTS: empty and --resume found no complete checkpoint in "
                    f"{cfg.OUTPUT_DIR}: --eval-only would evaluate a randomly initialised model "
                    "(set MODEL.ALLOW_RANDOM_WEIGHTS True to do so on purpose)"
                )
            return ""
        if "://" not in path and not os.path.isfile(path):
            kind = "is a directory" if os.path.isdir(path) else "not found"
            raise SetupError(f"MODEL.WEIGHTS: {path}: {kind}")
        probe = cfg.clone()
        probe.defrost()
        probe.MODEL.DEVICE = "cpu"
        with _Quiet():
            model = build_model(probe)
            checkpointer = checkpointer_class(
                model,
                backbone_only=bool(cfg.MODEL.WEIGHTS_BACKBONE_ONLY) and not resumed,
                require_complete=bool(args.eval_only) and not cfg.MODEL.ALLOW_RANDOM_WEIGHTS,
            )
            checkpointer.load(path, checkpointables=[])
        return path
    except CheckpointError as err:
        key = "--resume" if resumed else "MODEL.WEIGHTS"
        raise SetupError(f"{key}: {err}") from None
    except (ValueError, KeyError, TypeError, RuntimeError) as err:  # e.g. a non-tensor entry
        key = "--resume" if resumed else "MODEL.WEIGHTS"
        detail = " ".join(str(err).split())
        raise SetupError(f"{key}: {path}: not usable as weights of this model ({detail})") from None


def remove_stray_files(output_dir: str) -> list[str]:
    """Remove (and log) the temporary files that interrupted atomic writes (checkpoints, the
    checkpoint tag, detection CSVs, result JSONs) left in ``output_dir``.

    Args:
        output_dir: the run's ``OUTPUT_DIR``.
    """
    removed = remove_stray_temporaries(output_dir)
    for path in removed:
        logger.info("removed %s, left by an interrupted write", path)
    return removed


def check_datasets(
    cfg: CfgNode,
    eval_only: bool,
    load: Callable[[CfgNode, Iterable[str], bool], list],
    units: tuple[str, str],
) -> None:
    """Load every split the run needs (train unless ``eval_only``, then test) with ``load(cfg,
    names, is_train)`` and print its size in ``units`` (train, test); any data problem raises
    :class:`SetupError`."""
    splits = ([] if eval_only else [(cfg.DATASETS.TRAIN, True)]) + [(cfg.DATASETS.TEST, False)]
    for names, is_train in splits:
        if not names and not is_train:
            continue  # no evaluation
        try:
            n = len(load(cfg, names, is_train))
        except (KeyError, ValueError, FileNotFoundError, InputFileError) as err:
            raise SetupError(f"dataset {list(names)}: {err}") from err
        print(f"{'train' if is_train else 'test'} data {list(names)}: {n} {units[not is_train]}")


def setup_process(cfg: CfgNode, args: argparse.Namespace) -> None:
    """Detectron2's ``default_setup`` (output dir, logs, config dump, seed) in each process, this
    project's log (console and ``OUTPUT_DIR/log.txt``: evaluator tables, skipped samples), and CPU
    threads: the cores left by the data workers, shared by this machine's processes (oversubscribed
    OpenMP threads spin and can slow a small model down by 10x). ``OMP_NUM_THREADS`` wins.

    The main process also removes the temporary files that a killed run's atomic writes left in
    ``OUTPUT_DIR`` and logs the config warnings :func:`check_config` printed.

    Args:
        cfg: the frozen config of the run.
        args: the parsed command line.
    """
    default_setup(cfg, args)
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="ava_detector")
    if comm.is_main_process():
        remove_stray_files(cfg.OUTPUT_DIR)
        for message in getattr(args, "config_warnings", []):
            logger.warning("%s", message)
    if cfg.MODEL.DEVICE == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        free = (os.cpu_count() or 1) - cfg.DATALOADER.NUM_WORKERS
        torch.set_num_threads(max(1, free // comm.get_local_size()))
        logger.info("CPU: %d intra-op threads per process", torch.get_num_threads())


def run(
    prog: str,
    args: argparse.Namespace,
    prepare: Callable[[argparse.Namespace], None],
    main: Callable[[argparse.Namespace], object],
) -> int:
    """``prepare(args)`` (config and data checks, raising :class:`SetupError`) in this process, then
    ``main(args)`` in every launched process. Returns the exit status: 2 for a setup error."""
    try:
        prepare(args)
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except (SetupError, CheckpointError) as err:  # CheckpointError: a file changed after prepare
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
