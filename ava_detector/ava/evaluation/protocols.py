"""The AVA evaluation protocols: how each evaluator that users compare against differs from the
official one (the table in the ``frame_map`` module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROTOCOLS", "EvalProtocol", "get_protocol"]


@dataclass(frozen=True)
class EvalProtocol:
    """How one evaluator differs from the others (see the ``frame_map`` module docstring)."""

    name: str
    integer_seconds: bool  # keys use int(second) (%04d) instead of the decimal value
    cap: int  # detections kept per keyframe (0 = all)
    ignore_unannotated: bool  # detections on keyframes absent from the GT are ignored (vs. FPs)
    score_order_matching: bool  # match detections by descending score (vs. file order)
    mean_over_detected: bool  # mAP over classes that received detections only
    heap_order: bool = False  # equal scores within a keyframe in the official heap's order


PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol("official", False, 50, True, True, False, True),
        EvalProtocol("activitynet-2019", True, 50, False, True, False, True),
        EvalProtocol("pyslowfast", True, 0, False, False, False),
        EvalProtocol("mmaction2", True, 0, False, True, True),
    )
}


def get_protocol(name: str | EvalProtocol) -> EvalProtocol:
    """Look up a protocol by name.

    Args:
        name: a key of ``PROTOCOLS`` or an ``EvalProtocol`` (returned as is).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(name, EvalProtocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(
            f"unknown AVA evaluation protocol {name!r}; use one of {sorted(PROTOCOLS)}"
        )
    return PROTOCOLS[name]
