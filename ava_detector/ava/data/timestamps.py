"""Keyframe timestamps: whole seconds (AVA) or a grid of ``1 / keyframe_rate`` seconds, and their text.

AVA annotates one keyframe per second and writes it ``%04d`` (``0902``). A dataset with another
keyframe rate (``keyframe_rate`` in its ``dataset.json``: 2 = every half second, 0.5 = every other
second) writes the fraction where there is one (``0902.5``); the official evaluator compares
timestamps as decimal numbers, so ``0902.5`` and ``902.5`` are the same keyframe.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["format_second", "on_keyframe_grid", "second_value"]

# A timestamp is on the grid when ``sec * rate`` is this close to a whole number.
GRID_TOLERANCE = 1e-6


def format_second(sec: float) -> str:
    """``%04d`` for a whole second, else the integer part ``%04d`` and the fraction's digits
    (at most 6, trailing zeros dropped): ``902 -> "0902"``, ``902.5 -> "0902.5"``."""
    whole = math.floor(sec)
    if sec == whole:
        return f"{int(whole):04d}"
    fraction = f"{sec - whole:.6f}"[1:].rstrip("0")
    return f"{int(whole):04d}{fraction}" if fraction != "." else f"{int(whole):04d}"


def second_value(sec: float) -> int | float:
    """An ``int`` for a whole second (AVA's records), else the ``float``."""
    return int(sec) if float(sec).is_integer() else float(sec)


def on_keyframe_grid(sec: np.ndarray, keyframe_rate: float) -> np.ndarray:
    """Whether each timestamp is a multiple of ``1 / keyframe_rate`` seconds (NaN: False)."""
    scaled = np.asarray(sec, dtype=np.float64) * float(keyframe_rate)
    return np.abs(scaled - np.round(scaled)) <= GRID_TOLERANCE * np.maximum(1.0, np.abs(scaled))
