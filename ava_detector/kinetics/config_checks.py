"""Checks of the ``KINETICS.*`` keys, run with the core checks by the tools (``task_checks``)."""

from __future__ import annotations

from detectron2.config import CfgNode

from ava_detector.engine.config_checks import ConfigProblem, error, is_int
from ava_detector.kinetics.evaluator import ENSEMBLES

__all__ = ["kinetics_config_problems"]


def kinetics_config_problems(cfg: CfgNode) -> list[ConfigProblem]:
    """What is wrong with ``cfg``'s Kinetics keys (errors, each naming its key)."""
    errors = []
    if cfg.KINETICS.ENSEMBLE not in ENSEMBLES:
        errors.append(
            error(
                "KINETICS.ENSEMBLE",
                f"{cfg.KINETICS.ENSEMBLE!r} is not one of {', '.join(ENSEMBLES)}",
            )
        )
    for key in ("TEST_NUM_CLIPS", "TEST_NUM_CROPS"):
        value = cfg.KINETICS[key]
        if not is_int(value) or value < 1:
            errors.append(error(f"KINETICS.{key}", f"must be an integer >= 1, got {value!r}"))
    return errors
