"""The AVA CSV formats' rules and the ``csv``-module path of the reader: each row checked (what is
wrong with it, on which line), rows parsed with Python's ``float()``, and the errors that name
the first offending line.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.data.errors import InputFileError

Kind = Literal["groundtruth", "detections", "exclusions"]
# Detections may carry a 9th column after the score: the person (track) id the demo writes; ignored.
_COLUMNS = {"groundtruth": (2, 7, 8), "detections": (2, 7, 8, 9), "exclusions": (2,)}
_NAMES = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
_MAX_LABEL = 2**31 - 1  # action ids are stored as int32


class _SlowPath(Exception):
    """pyarrow rejected text that Python's ``float()`` accepts: read the file with ``csv``."""


def _python_boxes(
    rows: list[list[str]], kind: Kind, path: Path, videos: tuple[str, ...] = ()
) -> AVABoxes:
    """Rows already split by ``csv`` as ``AVABoxes`` (vocabulary ``videos`` extended).

    Args:
        rows: the split rows.
        kind: what they hold.
        path: the file, for errors.
        videos: the vocabulary to extend.
    """
    allowed = _COLUMNS[kind]
    vocab = {v: i for i, v in enumerate(videos)}
    n = len(rows)
    video = np.zeros(n, np.int32)
    time = np.zeros(n)
    boxes = np.full((n, 4), np.nan)
    label = np.zeros(n, np.int64)
    score = np.ones(n)
    for i, row in enumerate(rows):
        if _row_problem(row, allowed):
            raise _located(path, kind, None)
        video[i] = vocab.setdefault(row[0], len(vocab))
        time[i] = float(row[1])
        if len(row) >= 7:
            boxes[i] = [float(x) for x in row[2:6]]
            label[i] = int(float(row[6]))
        if len(row) >= 8 and row[7].strip():
            score[i] = float(row[7])
    return AVABoxes(tuple(vocab), video, time, boxes, label, score)


def _read_python(path: Path, kind: Kind) -> AVABoxes:
    """The slow, permissive path: every line through ``csv`` and ``float()``.

    Args:
        path: the CSV file.
        kind: what it holds.
    """
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and (len(r) > 1 or r[0].strip())]
    return _python_boxes(rows, kind, path)


def _unreadable(path: Path, kind: Kind) -> InputFileError:
    """The error for a file that is not UTF-8 text, or has a field beyond the ``csv`` module's
    limit: the first such line, named."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return InputFileError(path, line, f"{kind} file is not UTF-8 text (byte {e.start})")
    limit = csv.field_size_limit()
    for lineno, text in enumerate(data.decode("utf-8").splitlines(), start=1):
        if len(text) > limit:
            return InputFileError(path, lineno, f"a field longer than {limit} characters")
    return InputFileError(path, None, f"{kind} file cannot be read as CSV")


def _located(path: Path, kind: Kind, cause: Exception | None) -> Exception:
    """The error for the first offending line, or ``_SlowPath`` if Python reads every line.

    Args:
        path: the CSV file.
        kind: what it holds.
        cause: pyarrow's error, or ``None`` when the values were read but are not valid.
    """
    allowed = _COLUMNS[kind]
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            problem = _row_problem(row, allowed)
            if problem:
                return InputFileError(path, lineno, problem)
    if cause is None:
        return InputFileError(path, None, "malformed rows")
    return _SlowPath(str(cause))


def _row_problem(row: list[str], allowed: tuple[int, ...]) -> str | None:
    """What is wrong with one split row, or ``None``.

    Args:
        row: the fields.
        allowed: the allowed column counts.
    """
    if len(row) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        return f"expected {want} comma-separated columns, got {len(row)}: {','.join(row)!r}"
    if not row[0].strip():
        return "empty video_id"
    for name, text in zip(_NAMES[1:], row[1:]):
        if name == "score" and not text.strip():
            continue
        try:
            value = float(text)
        except ValueError:
            return f"{name} must be a number, got {text!r}"
        if not math.isfinite(value):
            return f"{name} must be finite, got {text!r}"
        if name == "action_id" and value != int(value):
            return f"action_id must be an integer, got {text!r}"
        if name == "action_id" and not -_MAX_LABEL <= value <= _MAX_LABEL:
            return f"action_id out of range, got {text!r}"
    return None
