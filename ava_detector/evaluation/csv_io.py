"""Reading and writing AVA ground-truth / detection / exclusion CSVs, fast (pandas C parser, in
chunks) and strict: a malformed row raises ``AVAFormatError(path, line, problem)``.

Floats go through pandas' default ("high") parser: exact (equal to Python's ``float()``, as in the
official script) for values of up to 15 significant digits, which covers AVA files (3-6 decimals);
``round_trip`` would guarantee it for any length at twice the parse time.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..data.errors import AVAFormatError
from .frame_map import AVABoxes

__all__ = ["atomic_output", "read_ava_csv", "write_ava_csv"]

Kind = Literal["groundtruth", "detections", "exclusions"]
_COLUMNS = {"groundtruth": (2, 7, 8), "detections": (2, 7, 8), "exclusions": (2,)}
_CHUNK_ROWS = 250_000


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_ava_csv(path: str | Path, kind: Kind,
                 prune: Callable[[AVABoxes], AVABoxes] | None = None,
                 chunk_rows: int = _CHUNK_ROWS) -> AVABoxes:
    """Rows of an AVA CSV (no header) as ``AVABoxes``, in file order.

    ``groundtruth``/``detections``: ``video_id,timestamp`` or ``...,x1,y1,x2,y2,action_id[,score]``
    (ground-truth column 8 is a person id and is ignored; detections without it score 1.0).
    ``exclusions``: ``video_id,timestamp``. ``prune`` is applied to each chunk (e.g.
    ``prune_detections``) so memory stays bounded on large detection files.
    """
    path = Path(path)
    ncols = max(_COLUMNS[kind])
    vocab: dict[str, int] = {}
    parts: list[AVABoxes] = []
    offset = 0
    try:
        # One sentinel column beyond the format: a non-empty value there = too many fields.
        reader = pd.read_csv(
            path, header=None, names=list(range(ncols + 1)), chunksize=chunk_rows, engine="c",
            dtype={0: "category", **{i: np.float64 for i in range(1, ncols)}, ncols: object},
            skip_blank_lines=True, index_col=False, keep_default_na=False, na_values=[""],
        )
        for chunk in _quiet(reader):
            part = _chunk_to_boxes(chunk, kind, vocab, offset, path)
            offset += len(chunk)
            parts.append(prune(part) if prune is not None else part)
    except FileNotFoundError:
        raise AVAFormatError(path, None, f"{kind} file not found") from None
    except pd.errors.EmptyDataError:
        parts = []  # an empty file (e.g. no excluded timestamps) holds no rows
    except (pd.errors.ParserError, ValueError) as e:
        if isinstance(e, AVAFormatError):
            raise
        raise _locate_problem(path, kind) or AVAFormatError(path, None, f"cannot parse: {e}") from None
    videos = tuple(vocab)
    return AVABoxes.concatenate([_with_vocab(p, videos) for p in parts], videos)


def _quiet(reader) -> Iterator[pd.DataFrame]:
    """Chunks without pandas' warning about the sentinel column (rows are checked instead)."""
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            chunk = next(reader, None)
        if chunk is None:
            return
        yield chunk


def _with_vocab(part: AVABoxes, videos: tuple[str, ...]) -> AVABoxes:
    return AVABoxes(videos, part.video, part.time, part.boxes, part.label, part.score, part.row)


def _chunk_to_boxes(chunk: pd.DataFrame, kind: Kind, vocab: dict[str, int], offset: int,
                    path: Path) -> AVABoxes:
    n = len(chunk)
    col = chunk[0]
    remap = np.array([vocab.setdefault(str(v), len(vocab)) for v in col.cat.categories] + [-1],
                     np.int32)
    video = remap[col.cat.codes.to_numpy()]
    time = chunk[1].to_numpy(np.float64)
    bad = (video < 0) | ~np.isfinite(time) | chunk[len(chunk.columns) - 1].notna().to_numpy()
    if kind == "exclusions":
        boxes, label, score = np.full((n, 4), np.nan), np.zeros(n, np.int64), np.ones(n)
    else:
        values = chunk[[2, 3, 4, 5, 6]].to_numpy(np.float64)
        key_only = np.isnan(values).all(axis=1) & chunk[7].isna().to_numpy()
        box_row = np.isfinite(values).all(axis=1)
        lab = values[:, 4]
        bad |= ~(key_only | box_row) | (box_row & (lab != np.floor(lab)))
        boxes = values[:, :4]
        label = np.where(key_only, 0, np.nan_to_num(lab)).astype(np.int64)
        score = chunk[7].to_numpy(np.float64)
        if kind == "groundtruth":
            score = np.ones(n)
        else:
            bad |= np.isinf(score)
            score = np.where(np.isnan(score), 1.0, score)
    if bad.any():
        raise _locate_problem(path, kind) or AVAFormatError(
            path, offset + int(np.flatnonzero(bad)[0]) + 1, "malformed row")
    row = np.arange(offset, offset + n, dtype=np.int64)
    return AVABoxes(tuple(vocab), video, time, boxes, label, score, row)


def _locate_problem(path: Path, kind: Kind) -> AVAFormatError | None:
    """Slow path after a failed fast parse: the first offending line and what is wrong with it."""
    allowed = _COLUMNS[kind]
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            problem = _row_problem(row, allowed)
            if problem:
                return AVAFormatError(path, lineno, problem)
    return None


def _row_problem(row: list[str], allowed: tuple[int, ...]) -> str | None:
    if len(row) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        return f"expected {want} comma-separated columns, got {len(row)}: {','.join(row)!r}"
    if not row[0].strip():
        return "empty video_id"
    names = ("timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
    for name, text in zip(names, row[1:]):
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
    return None


def write_ava_csv(path: str | Path, table: AVABoxes) -> None:
    """Write detections in the official format ``video_id,timestamp,x1,y1,x2,y2,action_id,score``
    (timestamp ``%04d`` when whole), atomically."""
    videos = np.asarray(table.videos + ("",), dtype=object)
    seconds, inverse = np.unique(table.time, return_inverse=True)
    stamps = np.array([f"{int(s):04d}" if s == int(s) else repr(float(s)) for s in seconds.tolist()]
                      + [""], dtype=object)
    frame = pd.DataFrame({
        "video": videos[table.video], "time": stamps[inverse.reshape(-1)],
        "x1": table.boxes[:, 0], "y1": table.boxes[:, 1], "x2": table.boxes[:, 2],
        "y2": table.boxes[:, 3], "label": table.label, "score": table.score,
    })
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, header=False, index=False, float_format="%.6f")
