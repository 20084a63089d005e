"""Reading and writing AVA ground-truth / detection / exclusion CSVs, fast and strict: a malformed row
raises ``InputFileError(path, line, problem)``.

Reading goes through pyarrow's multi-threaded CSV reader with fixed column types. Its float parser
rounds correctly, so every value equals Python's ``float()`` of the text (as in the official script)
whatever its number of digits. Rows with another allowed number of columns than the file's first rows
(2-column keyframe rows among 8-column ones, say) are parsed apart and put back in file order. Whatever
pyarrow rejects is looked up again line by line with the ``csv`` module, so the error names the
first offending line and what is wrong with it; text that pyarrow rejects but Python's ``float()``
accepts is read by that slower path instead. The reader imports neither pandas nor torch.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_arrow import _read_arrow
from ava_detector.ava.evaluation.csv_python import (
    _COLUMNS,
    Kind,
    _read_python,
    _SlowPath,
    _unreadable,
)
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_output

__all__ = ["read_ava_csv", "write_ava_csv"]

_CHUNK_ROWS = 250_000
_SNIFF_BYTES = 1 << 16


def read_ava_csv(
    path: str | Path,
    kind: Kind,
    prune: Callable[[AVABoxes], AVABoxes] | None = None,
    chunk_rows: int = _CHUNK_ROWS,
) -> AVABoxes:
    """Rows of an AVA CSV (no header) as ``AVABoxes``, in file order.

    Args:
        path: the CSV file.
        kind: ``groundtruth``/``detections``: ``video_id,timestamp`` or
            ``...,x1,y1,x2,y2,action_id[,score]``; column 8 (a person id in ground truth, which the
            official script reads as a score too) goes to ``score``, 1.0 when absent or empty.
            ``exclusions``: ``video_id,timestamp``.
        prune: applied to consecutive slices of ``chunk_rows`` rows (e.g. a ``DetectionPruner``), the
            results joined in order.
        chunk_rows: slice length for ``prune``.

    Returns:
        The rows; ``row`` is each row's index among the file's non-empty lines.

    Raises:
        InputFileError: missing file, or the first malformed line and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, f"{kind} file not found")
    try:
        ncols = _sniff_columns(path, kind)
        if ncols is None:  # an empty file (e.g. no excluded timestamps) holds no rows
            return AVABoxes.empty()
        try:
            table = _read_arrow(path, kind, ncols)
        except _SlowPath:
            table = _read_python(path, kind)
    except (UnicodeDecodeError, csv.Error):  # text Python's csv module cannot read: say where
        raise _unreadable(path, kind) from None
    if prune is None:
        return table
    parts = [prune(table.take(slice(i, i + chunk_rows))) for i in range(0, len(table), chunk_rows)]
    return AVABoxes.concatenate(parts, table.videos)


def _sniff_columns(path: Path, kind: Kind) -> int | None:
    """The most common allowed column count among the first lines (the types pyarrow reads with);
    ``None`` for a file without rows.

    Args:
        path: the CSV file.
        kind: what it holds.
    """
    with open(path, newline="") as f:
        head = f.read(_SNIFF_BYTES)
    lines = head.splitlines()
    if len(head) == _SNIFF_BYTES and lines:
        lines = lines[:-1] or lines  # the last line may be cut
    counts: dict[int, int] = {}
    for row in csv.reader(lines):
        if row and (len(row) > 1 or row[0].strip()):
            counts[len(row)] = counts.get(len(row), 0) + 1
    if not counts:
        return None if not head.strip() else max(_COLUMNS[kind])
    allowed = [c for c in counts if c in _COLUMNS[kind]]
    return max(allowed, key=lambda c: (counts[c], c)) if allowed else max(_COLUMNS[kind])


def write_ava_csv(path: str | Path, table: AVABoxes) -> None:
    """Write detections in the official format ``video_id,timestamp,x1,y1,x2,y2,action_id,score``
    (timestamp ``%04d`` when whole), atomically.

    Args:
        path: the output file.
        table: the rows to write, in their order.
    """
    import pandas as pd  # only the writer needs it; the evaluator's reading path stays light

    videos = np.asarray(table.videos + ("",), dtype=object)
    seconds, inverse = np.unique(table.time, return_inverse=True)
    stamps = np.array(
        [f"{int(s):04d}" if s == int(s) else repr(float(s)) for s in seconds.tolist()] + [""],
        dtype=object,
    )
    frame = pd.DataFrame(
        {
            "video": videos[table.video],
            "time": stamps[inverse.reshape(-1)],
            "x1": table.boxes[:, 0],
            "y1": table.boxes[:, 1],
            "x2": table.boxes[:, 2],
            "y2": table.boxes[:, 3],
            "label": table.label,
            "score": table.score,
        }
    )
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, header=False, index=False, float_format="%.6f")
