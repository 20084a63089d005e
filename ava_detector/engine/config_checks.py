"""Config values that would crash a run late or give wrong numbers silently, found before any work.

:func:`config_problems` is pure: it reads a config and the run's facts (evaluation only, world size,
resuming, the registered names) and returns :class:`ConfigProblem` s, errors first. Each message is
one line that starts with the key to fix. ``engine/cli.py`` turns the first error into exit code 2
and prints the warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from detectron2.config import CfgNode

from ava_detector.config.pathways import ARCHS
from ava_detector.data.transforms.augmentation import CROP_GRIDS
from ava_detector.data.transforms.decode_device import decode_device_problems
from ava_detector.engine.data_loading import RUNS_IN

__all__ = [
    "AMP_DTYPES",
    "ConfigProblem",
    "TaskCheck",
    "config_problems",
    "error",
    "is_int",
    "warning",
]

#: SOLVER.AMP.DTYPE values.
AMP_DTYPES = ("bfloat16", "bf16", "float16", "fp16")


#: A task's check of its own keys: ``cfg -> problems`` (see ``ava_detector.ava.config_checks``).
TaskCheck = Callable[[CfgNode], Iterable["ConfigProblem"]]


@dataclass(frozen=True)
class ConfigProblem:
    """``level`` "error" (the run must not start) or "warning"; ``key`` the config key; one-line
    ``message`` that starts with the key."""

    level: str
    key: str
    message: str

    def __str__(self) -> str:
        return self.message


def error(key: str, text: str) -> ConfigProblem:
    return ConfigProblem("error", key, f"{key}: {text}")


def warning(key: str, text: str) -> ConfigProblem:
    return ConfigProblem("warning", key, f"{key}: {text}")


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def config_problems(
    cfg: CfgNode,
    *,
    eval_only: bool = False,
    resume: bool = False,
    world_size: int = 1,
    meta_architectures: Iterable[str] = (),
    frame_sources: Iterable[str] = ("frames", "video"),
    expected_meta_architecture: str | None = None,
    task_checks: Iterable[TaskCheck] = (),
) -> list[ConfigProblem]:
    """Everything wrong with ``cfg`` for a run, errors first, then warnings.

    Args:
        cfg: the merged config (defaults + file + opts).
        eval_only: the run only evaluates (solver keys are not used).
        resume: ``--resume``: the run continues from OUTPUT_DIR's checkpoint if there is one.
        world_size: processes over all machines (``--num-gpus`` x ``--num-machines``).
        meta_architectures: the names registered in ``META_ARCH_REGISTRY`` (empty: not checked).
        frame_sources: the names registered in the frame-source registry (``INPUT.SOURCE``).
        expected_meta_architecture: the architecture the tool trains (None: any registered one).
        task_checks: the task's checks of its own keys (e.g. ``AVA.*``), each ``cfg -> problems``.
    """
    errors: list[ConfigProblem] = []
    warnings: list[ConfigProblem] = []

    arch = cfg.MODEL.META_ARCHITECTURE
    registered = sorted(meta_architectures)
    if registered and arch not in registered:
        errors.append(
            error(
                "MODEL.META_ARCHITECTURE",
                f"unknown architecture {arch!r}; registered: {', '.join(registered)}",
            )
        )
    elif expected_meta_architecture and arch != expected_meta_architecture:
        errors.append(
            error(
                "MODEL.META_ARCHITECTURE",
                f"{arch!r}, but this tool runs {expected_meta_architecture!r}",
            )
        )

    sf = cfg.MODEL.SLOWFAST
    frames = cfg.INPUT.NUM_FRAMES
    if sf.ARCH not in ARCHS:
        errors.append(error("MODEL.SLOWFAST.ARCH", f"{sf.ARCH!r} is not one of {', '.join(ARCHS)}"))
    if not is_int(frames) or frames < 1:
        errors.append(error("INPUT.NUM_FRAMES", f"must be a positive integer, got {frames!r}"))
    elif not is_int(sf.ALPHA) or sf.ALPHA < 1:
        errors.append(
            error("MODEL.SLOWFAST.ALPHA", f"must be a positive integer, got {sf.ALPHA!r}")
        )
    elif sf.ARCH in ("slowfast", "slow") and (sf.ALPHA > frames or frames % sf.ALPHA):
        errors.append(
            error(
                "MODEL.SLOWFAST.ALPHA",
                f"{sf.ALPHA} must divide INPUT.NUM_FRAMES {frames} (the Slow "
                f"pathway takes NUM_FRAMES / ALPHA frames)",
            )
        )
    if not is_int(cfg.INPUT.SAMPLING_RATE) or cfg.INPUT.SAMPLING_RATE < 1:
        errors.append(
            error(
                "INPUT.SAMPLING_RATE",
                f"must be a positive integer, got {cfg.INPUT.SAMPLING_RATE!r}",
            )
        )

    sources = sorted(frame_sources)
    if cfg.INPUT.SOURCE not in sources:
        errors.append(
            error(
                "INPUT.SOURCE",
                f"unknown frame source {cfg.INPUT.SOURCE!r}; use one of {', '.join(sources)}",
            )
        )
    grid = cfg.INPUT.get("TRAIN_CROP_GRID", "source")
    if grid not in CROP_GRIDS:
        errors.append(
            error("INPUT.TRAIN_CROP_GRID", f"{grid!r} is not one of {', '.join(CROP_GRIDS)}")
        )
    workers = cfg.DATALOADER.NUM_WORKERS
    if not is_int(workers) or workers < 0:
        errors.append(error("DATALOADER.NUM_WORKERS", f"must be an integer >= 0, got {workers!r}"))
    runs = cfg.DATALOADER.get("CONSECUTIVE_KEYFRAMES", 1)
    if not is_int(runs) or runs < 1:
        errors.append(
            error("DATALOADER.CONSECUTIVE_KEYFRAMES", f"must be an integer >= 1, got {runs!r}")
        )
    runs_in = cfg.DATALOADER.get("CONSECUTIVE_KEYFRAMES_IN", "worker")
    if runs_in not in RUNS_IN:
        errors.append(
            error(
                "DATALOADER.CONSECUTIVE_KEYFRAMES_IN",
                f"{runs_in!r} is not one of {', '.join(RUNS_IN)}",
            )
        )
    test_batch = cfg.TEST.IMS_PER_BATCH
    if not is_int(test_batch) or test_batch < 1:
        errors.append(error("TEST.IMS_PER_BATCH", f"must be an integer >= 1, got {test_batch!r}"))

    if not eval_only:
        batch = cfg.SOLVER.IMS_PER_BATCH
        if not is_int(batch) or batch <= 0:
            errors.append(
                error("SOLVER.IMS_PER_BATCH", f"must be a positive integer, got {batch!r}")
            )
        elif batch % world_size:
            errors.append(
                error(
                    "SOLVER.IMS_PER_BATCH",
                    f"{batch} is not divisible by the {world_size} processes "
                    "(it is the total batch, split evenly over them)",
                )
            )
        period = cfg.SOLVER.CHECKPOINT_PERIOD
        if not is_int(period) or period <= 0:
            errors.append(
                error(
                    "SOLVER.CHECKPOINT_PERIOD",
                    f"must be a positive integer (iterations), got {period!r}",
                )
            )
        if not is_int(cfg.SOLVER.MAX_ITER) or cfg.SOLVER.MAX_ITER <= 0:
            errors.append(
                error("SOLVER.MAX_ITER", f"must be a positive integer, got {cfg.SOLVER.MAX_ITER!r}")
            )
        if not cfg.SOLVER.BASE_LR > 0:
            errors.append(error("SOLVER.BASE_LR", f"must be > 0, got {cfg.SOLVER.BASE_LR!r}"))
        if cfg.TEST.EVAL_PERIOD < 0:
            errors.append(
                error(
                    "TEST.EVAL_PERIOD",
                    f"must be >= 0 (0 = at the end only), got {cfg.TEST.EVAL_PERIOD!r}",
                )
            )
        if str(cfg.SOLVER.AMP.DTYPE).lower() not in AMP_DTYPES:
            errors.append(
                error(
                    "SOLVER.AMP.DTYPE", f"{cfg.SOLVER.AMP.DTYPE!r} is not one of bfloat16, float16"
                )
            )

    weights = cfg.MODEL.WEIGHTS
    if eval_only and not weights and not resume and not cfg.MODEL.ALLOW_RANDOM_WEIGHTS:
        errors.append(
            error(
                "MODEL.WEIGHTS",
                "empty: --eval-only would evaluate a randomly initialised model; give "
                "the weights to evaluate, or set MODEL.ALLOW_RANDOM_WEIGHTS True to do so on purpose",
            )
        )
    if not eval_only and not weights:
        expected = cfg.MODEL.EXPECTED_INIT
        if expected:
            warnings.append(
                warning(
                    "MODEL.WEIGHTS",
                    f"empty: training from scratch, but the config expects "
                    f"initialisation from {expected} (MODEL.EXPECTED_INIT); the published numbers need it"
                    + (" (unless --resume finds a checkpoint in OUTPUT_DIR)" if resume else ""),
                )
            )
        elif cfg.MODEL.WEIGHTS_BACKBONE_ONLY:
            warnings.append(
                warning(
                    "MODEL.WEIGHTS",
                    "empty while MODEL.WEIGHTS_BACKBONE_ONLY is True: the backbone "
                    "initialisation the config asks for is missing; training from scratch",
                )
            )
    for level, key, message in decode_device_problems(cfg):
        (errors if level == "error" else warnings).append(
            ConfigProblem(level, key, message if message.startswith(key) else f"{key}: {message}")
        )
    for check in task_checks:
        for problem in check(cfg):
            (errors if problem.level == "error" else warnings).append(problem)
    return errors + warnings
