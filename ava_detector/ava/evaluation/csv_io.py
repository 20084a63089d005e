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
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ava_detector.ava.evaluation.frame_map import AVABoxes, ChunkedBoxes
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_output

__all__ = ["read_ava_csv", "write_ava_csv"]

Kind = Literal["groundtruth", "detections", "exclusions"]
# Detections may carry a 9th column after the score: the person (track) id the demo writes; ignored.
_COLUMNS = {"groundtruth": (2, 7, 8), "detections": (2, 7, 8, 9), "exclusions": (2,)}
_NAMES = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")
_CHUNK_ROWS = 250_000
_MAX_LABEL = 2**31 - 1  # action ids are stored as int32
_SNIFF_BYTES = 1 << 16
_BLOCK_BYTES = 1 << 24  # pyarrow parses blocks of this size in parallel


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
            return AVABoxes.concatenate([], ())
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


class _SlowPath(Exception):
    """pyarrow rejected text that Python's ``float()`` accepts: read the file with ``csv``."""


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


def _read_arrow(path: Path, kind: Kind, ncols: int) -> AVABoxes:
    """The file through pyarrow, typed for ``ncols`` columns; rows of other allowed counts parsed
    apart and merged back in file order.

    Args:
        path: the CSV file.
        kind: what it holds.
        ncols: the column count to type the columns for.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # jemalloc (where pyarrow has it) hands each converted column back (``release_unused``) without
    # huge pages, whose first touch costs the kernel more than the 4 KiB ones. Its default decay is
    # kept: the parser's block buffers are then reused instead of handed back and faulted in again
    # (a decay of 0 cost ~1 s of system time on a 10M-row file).
    if "jemalloc" in pa.supported_memory_backends():
        pool = pa.jemalloc_memory_pool()
    else:
        pool = pa.default_memory_pool()

    # pyarrow ships no type stubs: its tables, columns and rows are ``Any``.
    def parse(use_threads: bool) -> tuple[Any, list[tuple[int | None, int, str]]]:
        others: list[tuple[int | None, int, str]] = []

        def on_other_row(row: Any) -> str:
            others.append((row.number, row.actual_columns, row.text))
            return "skip"

        types = {f"f{i}": pa.float64() for i in range(ncols)}
        types["f0"] = pa.dictionary(pa.int32(), pa.string())
        if ncols > 6:
            types["f6"] = pa.int32()  # "1.0" is read by the slow path (as Python would)
        undecodable: list[BaseException] = []  # rows pyarrow could not hand over as text

        def unraisable(event: sys.UnraisableHookArgs) -> None:
            if isinstance(event.exc_value, UnicodeDecodeError):
                undecodable.append(event.exc_value)
            else:
                previous_hook(event)

        previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
        # A memory map: pyarrow parses the page cache in place instead of copying it into buffers.
        source = pa.memory_map(str(path))
        try:
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(
                    column_names=list(types), use_threads=use_threads, block_size=_BLOCK_BYTES
                ),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_other_row),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    null_values=[""],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
                memory_pool=pool,
            )
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                return None, []
            raise _located(path, kind, e) from None
        finally:
            sys.unraisablehook = previous_hook
            source.close()
        if undecodable:
            raise undecodable[0]  # read_ava_csv names the line
        return table, others

    table, others = parse(use_threads=kind == "detections")
    if table is None:
        return AVABoxes.concatenate([], ())
    allowed = _COLUMNS[kind]
    kept = [o for o in others if _is_row(o)]  # lines of blanks are skipped
    if any(o[1] not in allowed for o in kept):
        raise _located(path, kind, None)
    if kept and any(o[0] is None for o in others):
        table, others = parse(use_threads=False)  # the row numbers are only known single-threaded
        kept = [o for o in others if _is_row(o)]
    # pyarrow numbers the lines of blanks too; a kept row's place in the file's row order is its
    # number less the lines of blanks before it
    blanks = np.sort(
        np.array([o[0] for o in others if not _is_row(o) and o[0] is not None], np.int64)
    )
    others = kept
    columns = table.columns
    del table
    main = _arrow_to_boxes(columns, path, kind, pool)
    if not others:
        return main
    extra = _python_boxes([next(csv.reader([o[2]])) for o in others], kind, path, main.videos)
    numbers = [o[0] for o in others if o[0] is not None]
    if len(numbers) != len(others):  # cannot happen: single-threaded parsing numbers every row
        raise AssertionError(f"{path}: pyarrow gave no line number for a row")
    extra_numbers = np.array(numbers, np.int64)
    extra_row = extra_numbers - 1 - np.searchsorted(blanks, extra_numbers)
    total = len(main) + len(extra)
    is_extra = np.zeros(total, bool)
    is_extra[extra_row] = True
    rows = AVABoxes(
        extra.videos,
        main.video,
        main.time,
        main.box_data,
        main.label,
        main.score,
        np.flatnonzero(~is_extra),
    )
    extra = AVABoxes(
        extra.videos,
        extra.video,
        extra.time,
        extra.boxes,
        extra.label.astype(main.label.dtype),
        extra.score,
        extra_row,
    )
    merged = AVABoxes.concatenate([rows, extra], extra.videos)
    return merged.take(np.argsort(merged.row, kind="stable"))


def _is_row(other: tuple[int | None, int, str]) -> bool:
    """Whether a line pyarrow set aside (``(number, columns, text)``) is a row, not blanks."""
    return other[1] > 1 or bool(other[2].strip())


def _take_column(
    columns: list[Any], i: int, pool: Any, out: np.ndarray | None = None, fill: float | None = None
) -> np.ndarray:
    """Column ``i`` as one contiguous array (into ``out`` if given; nulls -> NaN, or ``fill``),
    dropped from ``columns`` and its memory handed back to the system (peak: the table plus one
    column).

    Args:
        columns: the table's columns (entry ``i`` is set to ``None``).
        i: which column.
        pool: the pyarrow memory pool they live in.
        out: where to write (a contiguous array of the column's length), or ``None``.
        fill: the value for empty cells, or ``None`` for NaN.
    """
    chunked, columns[i] = columns[i], None
    try:
        return _to_array(chunked, out, fill)
    finally:
        del chunked
        pool.release_unused()


def _to_array(chunked: Any, out: np.ndarray | None, fill: float | None) -> np.ndarray:
    """See ``_take_column``.

    Args:
        chunked: a pyarrow chunked int32/float64 column.
        out: destination or ``None``.
        fill: value for nulls or ``None``.
    """
    if fill is not None and chunked.null_count:
        chunked = chunked.fill_null(fill)
    if out is None:
        if chunked.num_chunks == 1:
            return _numpy(chunked.chunk(0)).copy()
        out = np.empty(len(chunked), np.int32 if chunked.type.bit_width == 32 else np.float64)
    at = 0
    for chunk in chunked.chunks:
        out[at : at + len(chunk)] = _numpy(chunk)
        at += len(chunk)
    return out


def _numpy(array: Any) -> np.ndarray:
    """A pyarrow int32/float64 array's values without a copy (nulls -> NaN for floats, 0 for
    integers), read from its buffer (pyarrow's own conversion would import pandas).

    Args:
        array: a pyarrow int32 or float64 array.
    """
    wide = array.type.bit_width == 64
    if array.null_count:
        array = array.fill_null(float("nan") if wide else 0)
    dtype = np.dtype(np.float64 if wide else np.int32)
    return np.frombuffer(
        array.buffers()[1], dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


def _all_finite(x: np.ndarray) -> bool:
    """Whether every value is finite: one sum (NaN and infinities propagate), checked value by
    value only if the sum is not finite (which an overflow of large values also gives).

    Args:
        x: a float array.
    """
    with np.errstate(all="ignore"):
        if math.isfinite(float(np.add.reduce(x, axis=None))):
            return True
    return bool(np.isfinite(x).all())


def _arrow_to_boxes(columns: list[Any], path: Path, kind: Kind, pool: Any) -> AVABoxes:
    """The parsed columns as ``AVABoxes`` (each column released once converted).

    Args:
        columns: the table's columns.
        path: the file, for errors.
        kind: what it holds.
        pool: the pyarrow memory pool of the columns.
    """
    ncols = len(columns)
    n = len(columns[0])
    vocab: dict[str, int] = {}
    video = np.empty(n, np.int32)
    at = 0
    for chunk in columns[0].chunks:
        names = chunk.dictionary.to_pylist()
        if any(not s.strip() for s in names):
            raise _located(path, kind, None)
        remap = np.array([vocab.setdefault(s, len(vocab)) for s in names] + [0], np.int32)
        np.take(remap, _numpy(chunk.indices), out=video[at : at + len(chunk)])
        at += len(chunk)
    columns[0] = None
    pool.release_unused()
    time = _take_column(columns, 1, pool)
    ok = _all_finite(time)
    boxes: np.ndarray | ChunkedBoxes
    if ncols == 2:
        boxes, label, score = np.full((n, 4), np.nan), np.zeros(n, np.int64), np.ones(n)
    else:
        chunked = _box_chunks(columns, path, kind)
        ok = ok and all(_all_finite(col) for chunk in chunked.chunks for col in chunk)
        boxes = chunked
        if columns[6].null_count:
            raise _located(path, kind, None)
        label = _take_column(columns, 6, pool)
        score = _take_column(columns, 7, pool, fill=1.0) if ncols >= 8 else np.ones(n)
        ok = ok and _all_finite(score)
    if not ok:
        raise _located(path, kind, None)
    return AVABoxes(tuple(vocab), video, time, boxes, label, score)


def _box_chunks(columns: list[Any], path: Path, kind: Kind) -> ChunkedBoxes:
    """Columns 2-5 as ``ChunkedBoxes`` of views of pyarrow's buffers, not copied: the evaluation
    reads only the rows its per-keyframe cap keeps (the columns are dropped from ``columns``).

    Args:
        columns: the table's columns.
        path: the file, for errors.
        kind: what it holds.
    """
    box = columns[2:6]
    columns[2:6] = [None] * 4
    if any(c.null_count for c in box):  # an empty coordinate
        raise _located(path, kind, None)
    chunks = [[_numpy(a) for a in c.chunks] for c in box]
    if all(len(c) == len(chunks[0]) for c in chunks) and all(
        len({len(v) for v in same}) == 1 for same in zip(*chunks)
    ):
        return ChunkedBoxes(list(zip(*chunks)))
    # columns chunked differently (not what pyarrow's reader gives): one chunk of copies
    return ChunkedBoxes([[np.concatenate(c) if c else np.zeros(0) for c in chunks]])


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
