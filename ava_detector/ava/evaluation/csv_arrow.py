"""The fast path of the AVA CSV reader: pyarrow's multi-threaded parser with fixed column types,
its columns turned into ``AVABoxes`` without copying the boxes.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes, ChunkedBoxes
from ava_detector.ava.evaluation.csv_python import _COLUMNS, Kind, _located, _python_boxes

_BLOCK_BYTES = 1 << 24  # pyarrow parses blocks of this size in parallel


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
        return AVABoxes.empty()
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
