"""Keys: (video name, second) -> int64, consistent across the tables of one evaluation; runs of
rows with one key, and each row's index among the evaluated action ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes


@dataclass(frozen=True)
class _Runs:
    """A table cut into runs of consecutive rows with one key (files list a keyframe's rows
    together, so runs are few): run starts, lengths and keys."""

    start: np.ndarray
    length: np.ndarray
    key: np.ndarray

    def row_keys(self) -> np.ndarray:
        return np.repeat(self.key, self.length)


def _seconds(time: np.ndarray, integer_seconds: bool) -> np.ndarray:
    """The second a key compares.

    Args:
        time: seconds as written.
        integer_seconds: truncate to an integer (``%04d`` keys).
    """
    return np.trunc(time) if integer_seconds else time


def _runs_of(
    tables: Sequence[tuple[tuple[str, ...], np.ndarray, np.ndarray] | None], integer_seconds: bool
) -> list[_Runs | None]:
    """Runs of every table, keyed in one vocabulary of videos and seconds.

    Args:
        tables: ``(videos, video codes, seconds)`` per table (``None`` entries give ``None``).
        integer_seconds: key on ``int(second)`` instead of the second's value.
    """
    names: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = []
    for t in tables:
        if t is None:
            parts.append(None)
            continue
        videos, video, time = t
        remap = np.array([names.setdefault(v, len(names)) for v in videos] + [0], np.int64)
        n = len(video)
        sec = _seconds(time, integer_seconds)
        change = np.ones(n, bool)
        if n > 1:
            np.not_equal(video[1:], video[:-1], out=change[1:])
            change[1:] |= sec[1:] != sec[:-1]
        start = np.flatnonzero(change)
        parts.append((start, np.diff(np.append(start, n)), remap[video[start]], sec[start] + 0.0))
    present = [p for p in parts if p is not None]
    times = np.unique(np.concatenate([p[3] for p in present])) if present else np.zeros(0)
    out: list[_Runs | None] = []
    for p in parts:
        if p is None:
            out.append(None)
            continue
        start, length, vid, sec = p
        out.append(_Runs(start, length, vid * max(len(times), 1) + np.searchsorted(times, sec)))
    return out


def _columns(t: AVABoxes | None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
    """The key columns of a table, for ``_runs_of``.

    Args:
        t: a table or ``None``.
    """
    return None if t is None else (t.videos, t.video, t.time)


def _class_index(label: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each row's action id in ``ids`` (int16), -1 for ids not evaluated.

    Args:
        label: action ids.
        ids: evaluated ids, ascending.
    """
    if not len(ids):
        return np.full(len(label), -1, np.int16)
    lut = np.full(int(ids.max()) + 2, -1, np.int16)
    lut[ids] = np.arange(len(ids), dtype=np.int16)
    if len(label) and (label.min() < 0 or label.max() > ids.max()):
        label = np.where((label < 0) | (label > ids.max()), ids.max() + 1, label)
    return lut[label]
