"""Checks of the ``AVA.*`` keys, run with the core checks by the tools (``task_checks``)."""

from __future__ import annotations

from detectron2.config import CfgNode

from ava_detector.ava.evaluation.protocols import PROTOCOLS
from ava_detector.engine.config_checks import ConfigProblem, error, is_int

__all__ = ["PROTOCOL_NAMES", "ava_config_problems"]

#: AVA.EVAL_PROTOCOL values (the evaluator's protocols).
PROTOCOL_NAMES: tuple[str, ...] = tuple(PROTOCOLS)


def ava_config_problems(cfg: CfgNode) -> list[ConfigProblem]:
    """What is wrong with ``cfg``'s AVA keys (errors, each naming its key)."""
    errors = []
    if cfg.AVA.EVAL_PROTOCOL not in PROTOCOL_NAMES:
        errors.append(
            error(
                "AVA.EVAL_PROTOCOL",
                f"unknown protocol {cfg.AVA.EVAL_PROTOCOL!r}; "
                f"use one of {', '.join(PROTOCOL_NAMES)}",
            )
        )
    if not is_int(cfg.AVA.EVAL_EVERY_K_SECONDS) or cfg.AVA.EVAL_EVERY_K_SECONDS < 1:
        errors.append(
            error(
                "AVA.EVAL_EVERY_K_SECONDS",
                f"must be an integer >= 1, got {cfg.AVA.EVAL_EVERY_K_SECONDS!r}",
            )
        )
    return errors
