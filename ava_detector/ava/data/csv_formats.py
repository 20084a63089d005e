"""AVA CSV files -> typed tables: annotations (2/7/8 columns), person proposals (8 columns) and
excluded timestamps (2 columns).

Parsing is pure (text in, ``pandas.DataFrame`` out) and vectorised: every row is split, checked column
by column, and the first bad row raises :class:`InputFileError` with its 1-based line number. With
``lenient=True`` the bad rows are dropped instead and returned as ``(line, problem)`` pairs so the
caller (the file edge, ``read_*``) can log how many were skipped.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ava_detector.ava.data.timestamps import on_keyframe_grid
from ava_detector.data.errors import InputFileError

__all__ = [
    "COORD_TOLERANCE",
    "ParsedTable",
    "parse_annotations",
    "parse_proposals",
    "parse_exclusions",
    "read_annotations",
    "read_proposals",
    "read_exclusions",
    "read_text",
]

logger = logging.getLogger(__name__)

# Normalised coordinates may overshoot [0, 1] by this much (rounding in the released files); they are
# clipped to [0, 1]. Anything further out is a malformed row.
COORD_TOLERANCE = 0.01

_BOX_COLS = ["x1", "y1", "x2", "y2"]


class ParsedTable(NamedTuple):
    """A parsed CSV: ``table`` (one row per valid line) and the ``(line, problem)`` of skipped rows."""

    table: pd.DataFrame
    skipped: list[tuple[int, str]]


_BLANK = " \t\r\x0b\x0c"  # a line of only these characters is skipped

# Whole numbers (seconds, person ids) at or beyond 2**53 are not exact as floats: out of range.
_EXACT_INT = 2.0**53
_F32_MAX = float(np.finfo(np.float32).max)

# No AVA CSV has more columns than this; wider lines are parsed only this far (they are errors
# anyway, reported from their comma count), so one long line cannot widen the whole table.
_MAX_COLUMNS = 8


def _line_table(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keep, 1-based line numbers of non-blank lines, comma count + 1 of those) from a file's bytes.

    Vectorised over newline and comma positions (no per-byte temporaries beyond a bool mask); a line
    is blank when it holds only characters of ``_BLANK`` (checked one by one only for lines that
    start with such a character)."""
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(data)]])
    line_of_comma = np.searchsorted(newlines, np.flatnonzero(data == 44))
    commas = np.bincount(line_of_comma, minlength=len(starts))
    keep = ends > starts
    blank_first = np.frombuffer(_BLANK.encode(), np.uint8)
    first_byte = np.zeros(len(starts), np.uint8)
    first_byte[keep] = data[starts[keep]]
    maybe_blank = np.flatnonzero(keep & np.isin(first_byte, blank_first))
    for i in maybe_blank:
        if not data[starts[i] : ends[i]].tobytes().decode("utf-8", "replace").strip(_BLANK):
            keep[i] = False
    return keep, np.flatnonzero(keep) + 1, (commas + 1)[keep]


def _split_rows(
    text: str, numeric: tuple[int, ...] = ()
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Non-blank lines split on commas: (fields as columns 0..n, 1-based line numbers, counts).

    Lines and comma counts come from the bytes (vectorised); the fields from pandas' C parser, with
    a pure-Python fallback for text it would read differently (NUL bytes, parser errors). Columns in
    ``numeric`` are parsed as float64 (NaN where empty or missing) when every value of theirs is a
    number; otherwise every column stays text and :func:`_numbers` decides row by row."""
    data = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    keep, line_numbers, counts = _line_table(data)
    del data
    if not keep.any():
        return pd.DataFrame(), line_numbers, counts
    if counts.max() > _MAX_COLUMNS:
        lines = text.split("\n")
        for i in line_numbers[counts > _MAX_COLUMNS] - 1:
            lines[i] = ",".join(lines[i].split(",", _MAX_COLUMNS)[:_MAX_COLUMNS])
        text = "\n".join(lines)
        fields, _, _ = _split_rows(text, numeric)
        return fields, line_numbers, counts
    fields = None
    if "\x00" not in text:
        width = int(counts.max())
        options = dict(
            header=None,
            names=range(width),
            keep_default_na=False,
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            lineterminator="\n",
            engine="c",
        )
        typed = {i: (np.float64 if i in numeric else str) for i in range(width)}
        for dtype in (typed, str) if numeric else (str,):
            try:
                fields = pd.read_csv(
                    io.StringIO(text),
                    dtype=dtype,
                    na_values={i: [""] for i in numeric if i < width} if dtype is typed else None,
                    **options,
                )
                break
            except (pd.errors.ParserError, ValueError, OverflowError):
                fields = None
        if fields is not None and len(fields) != len(keep) - (1 if text.endswith("\n") else 0):
            fields = None
    if fields is None:
        return _split_rows_python(text)
    fields = fields[keep[: len(fields)]].reset_index(drop=True)
    for i in fields.columns:
        if fields[i].dtype == object:
            fields[i] = fields[i].fillna("")
    fields[0] = fields[0].str.strip()
    return fields, line_numbers, counts


def _split_rows_python(text: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Reference splitting, line by line (same result as :func:`_split_rows`, slower)."""
    lines = pd.Series(text.split("\n"), dtype=object)
    keep = lines.str.strip(_BLANK).str.len() > 0
    lines = lines[keep]
    line_numbers = lines.index.to_numpy() + 1
    if len(lines) == 0:
        return pd.DataFrame(), line_numbers, np.zeros(0, dtype=np.int64)
    counts = lines.str.count(",").to_numpy() + 1
    fields = lines.str.split(",", expand=True, regex=False).fillna("").astype(object)
    fields[0] = fields[0].str.strip()
    fields.columns = range(fields.shape[1])
    fields.index = range(len(fields))
    return fields, line_numbers, counts


class _Problems:
    """First problem per row wins; rows keep the order of the file."""

    def __init__(self, n: int) -> None:
        self.msg = np.full(n, "", dtype=object)

    def add(self, bad: np.ndarray, message: str | Callable[[int], str]) -> None:
        """Mark rows where ``bad`` is True (and no earlier problem) with ``message``: a string, or a
        function of one bad row's index returning its string (formatted for bad rows only)."""
        bad = np.asarray(bad, dtype=bool) & (self.msg == "")
        if not bad.any():
            return
        if isinstance(message, str):
            self.msg[bad] = message
        else:
            for i in np.flatnonzero(bad).tolist():
                self.msg[i] = message(i)

    @property
    def bad(self) -> np.ndarray:
        return self.msg != ""


def _numbers(col: pd.Series) -> np.ndarray:
    """Float values of a text (or already numeric) column; NaN where not a finite number."""
    if col.dtype.kind == "f":
        values = col.to_numpy(dtype=np.float64, copy=True)
    else:
        values = np.array(pd.to_numeric(col.where(col != ""), errors="coerce"), dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def _column(fields: pd.DataFrame, i: int) -> pd.Series:
    if i in fields.columns:
        return fields[i]
    return pd.Series([""] * len(fields), dtype=object)


def _seconds_column(sec: np.ndarray, keyframe_rate: float) -> np.ndarray:
    """int64 seconds (AVA, or every k-th second), float64 when keyframes fall between seconds."""
    if (1.0 / keyframe_rate).is_integer():
        return _whole(sec, 0)
    return np.where(np.isfinite(sec) & (np.abs(sec) < _EXACT_INT), sec, 0.0)


def _whole(values: np.ndarray, fill: int) -> np.ndarray:
    """int64 of float values; NaN and out-of-range ones (rows already marked bad) become ``fill``."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values) & (np.abs(values) < _EXACT_INT)
    return np.where(ok, values, fill).astype(np.int64)


def _check_seconds(
    fields: pd.DataFrame,
    problems: _Problems,
    sec_range: tuple[float, float] | None,
    keyframe_rate: float = 1.0,
) -> np.ndarray:
    sec = _numbers(_column(fields, 1))
    problems.add(np.isnan(sec), "timestamp is not a number")
    if keyframe_rate == 1:
        problems.add(~np.isnan(sec) & (sec != np.round(sec)), "timestamp must be a whole second")
    else:
        off = ~np.isnan(sec) & ~on_keyframe_grid(sec, keyframe_rate)
        problems.add(off, f"timestamp is not on the keyframe grid of {keyframe_rate:g} per second")
    problems.add(np.abs(np.nan_to_num(sec)) >= _EXACT_INT, "timestamp out of range")
    if sec_range is not None:
        lo, hi = sec_range
        outside = ~np.isnan(sec) & ((sec < lo) | (sec > hi))
        problems.add(outside, f"timestamp outside the video's keyframe seconds [{lo}, {hi}]")
    return sec


def _check_boxes(fields: pd.DataFrame, problems: _Problems, has_box: np.ndarray) -> np.ndarray:
    coords = np.stack([_numbers(_column(fields, i)) for i in range(2, 6)], axis=1)
    nan = np.isnan(coords).any(axis=1) & has_box
    problems.add(nan, "box coordinates x1,y1,x2,y2 must be numbers")
    out = (
        has_box & ~nan & ((coords < -COORD_TOLERANCE) | (coords > 1 + COORD_TOLERANCE)).any(axis=1)
    )
    problems.add(out, "box coordinates must be normalised to [0, 1]")
    coords = np.clip(coords, 0.0, 1.0)
    problems.add(has_box & ~nan & (coords[:, 0] >= coords[:, 2]), "box needs x1 < x2")
    problems.add(has_box & ~nan & (coords[:, 1] >= coords[:, 3]), "box needs y1 < y2")
    return coords


def _finish(
    fields: pd.DataFrame,
    line_numbers: np.ndarray,
    problems: _Problems,
    path: str | Path,
    lenient: bool,
    columns: dict[str, np.ndarray],
) -> ParsedTable:
    bad = problems.bad
    if bad.any() and not lenient:
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError(path, int(line_numbers[i]), str(problems.msg[i]))
    skipped = [(int(line_numbers[i]), str(problems.msg[i])) for i in np.flatnonzero(bad)]
    good = ~bad
    table = pd.DataFrame({name: values[good] for name, values in columns.items()})
    table["line"] = line_numbers[good].astype(np.int64)
    return ParsedTable(table.reset_index(drop=True), skipped)


def _video_ids(fields: pd.DataFrame, problems: _Problems) -> np.ndarray:
    vid = _column(fields, 0).to_numpy(dtype=object)
    problems.add(vid == "", "empty video_id")
    return vid


def parse_annotations(
    text: str,
    path: str | Path = "<annotations>",
    *,
    num_classes: int = 80,
    sec_range: tuple[float, float] | None = None,
    keyframe_rate: float = 1.0,
    lenient: bool = False,
) -> ParsedTable:
    """Parse a ground-truth CSV: ``video_id,sec,x1,y1,x2,y2,action_id[,person_id]`` or ``video_id,sec``
    (an annotated keyframe with no person).

    Columns of the table: ``video_id`` (str), ``sec`` (int64), ``x1..y2`` (float32, clipped to [0, 1];
    NaN on 2-column rows), ``action_id`` (int64, 0 on 2-column rows), ``person_id`` (int64, -1 if
    absent), ``line`` (1-based). ``sec`` is float64 when ``keyframe_rate`` (keyframes per second,
    1 for AVA) puts keyframes between whole seconds; a timestamp off that grid is a bad row.
    Action ids must lie in ``1..num_classes``; ``sec_range`` (inclusive)
    bounds the keyframe seconds when known.
    """
    fields, lines, counts = _split_rows(text, numeric=(1, 2, 3, 4, 5, 6, 7))
    n = len(lines)
    problems = _Problems(n)
    problems.add(
        ~np.isin(counts, (2, 7, 8)),
        lambda i: f"expected 2, 7 or 8 comma-separated columns, got {counts[i]}",
    )
    vid = _video_ids(fields, problems)
    sec = _check_seconds(fields, problems, sec_range, keyframe_rate)
    has_box = counts >= 7
    coords = _check_boxes(fields, problems, has_box)
    action = _numbers(_column(fields, 6))
    bad_action = has_box & (np.isnan(action) | (action != np.round(action)))
    problems.add(bad_action, "action_id must be an integer")
    unknown = has_box & ~np.isnan(action) & ((action < 1) | (action > num_classes))
    problems.add(
        unknown,
        lambda i: f"unknown action id {action[i]:g} (valid: 1..{num_classes})",
    )
    person = _numbers(_column(fields, 7))
    bad_person = (counts == 8) & (np.isnan(person) | (person != np.round(person)))
    problems.add(bad_person, "person_id must be an integer")
    problems.add(
        (counts == 8) & (np.abs(np.nan_to_num(person)) >= _EXACT_INT), "person_id out of range"
    )
    coords[~has_box] = np.nan
    columns = {
        "video_id": vid,
        "sec": _seconds_column(sec, keyframe_rate),
        **{c: coords[:, i].astype(np.float32) for i, c in enumerate(_BOX_COLS)},
        "action_id": _whole(np.where(has_box, action, 0), 0),
        "person_id": _whole(np.where(counts == 8, person, -1), -1),
    }
    return _finish(fields, lines, problems, path, lenient, columns)


def parse_proposals(
    text: str,
    path: str | Path = "<proposals>",
    *,
    sec_range: tuple[float, float] | None = None,
    keyframe_rate: float = 1.0,
    lenient: bool = False,
) -> ParsedTable:
    """Parse a person-proposal CSV: ``video_id,sec,x1,y1,x2,y2,label,score`` (label empty or -1 = none).

    Columns: ``video_id``, ``sec`` (int64; float64 when ``keyframe_rate`` puts keyframes between
    seconds), ``x1..y2`` (float32), ``score`` (float32), ``line``.
    The label column is accepted but not used: proposals are labelled from ground truth by IoU.
    """
    fields, lines, counts = _split_rows(text, numeric=(1, 2, 3, 4, 5, 7))
    problems = _Problems(len(lines))
    problems.add(
        counts != 8,
        lambda i: f"expected 8 comma-separated columns, got {counts[i]}",
    )
    vid = _video_ids(fields, problems)
    sec = _check_seconds(fields, problems, sec_range, keyframe_rate)
    coords = _check_boxes(fields, problems, np.ones(len(lines), dtype=bool))
    label = _column(fields, 6)
    label_num = _numbers(label)
    problems.add(
        (label.str.strip() != "").to_numpy() & np.isnan(label_num),
        "label must be empty or an integer",
    )
    score = _numbers(_column(fields, 7))
    problems.add(np.isnan(score), "score must be a number")
    problems.add(np.abs(np.nan_to_num(score)) > _F32_MAX, "score out of range (beyond float32)")
    columns = {
        "video_id": vid,
        "sec": _seconds_column(sec, keyframe_rate),
        **{c: coords[:, i].astype(np.float32) for i, c in enumerate(_BOX_COLS)},
        "score": np.clip(np.nan_to_num(score), -_F32_MAX, _F32_MAX).astype(np.float32),
    }
    return _finish(fields, lines, problems, path, lenient, columns)


def parse_exclusions(
    text: str,
    path: str | Path = "<exclusions>",
    *,
    keyframe_rate: float = 1.0,
    lenient: bool = False,
) -> ParsedTable:
    """Parse an excluded-timestamps CSV: ``video_id,sec``. Columns: ``video_id``, ``sec``, ``line``."""
    fields, lines, counts = _split_rows(text)
    problems = _Problems(len(lines))
    problems.add(
        counts != 2,
        lambda i: f"expected 2 comma-separated columns, got {counts[i]}",
    )
    vid = _video_ids(fields, problems)
    sec = _check_seconds(fields, problems, None, keyframe_rate)
    columns = {"video_id": vid, "sec": _seconds_column(sec, keyframe_rate)}
    return _finish(fields, lines, problems, path, lenient, columns)


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped); a missing or unreadable file,
    a folder, or bytes that are not UTF-8 raise :class:`InputFileError` naming the file (and line)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputFileError(path, None, f"cannot read {what}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputFileError(path, line, f"{what} is not UTF-8 text (byte {e.start})") from None


def _log_skipped(path: str | Path, parsed: ParsedTable) -> ParsedTable:
    if parsed.skipped:
        line, problem = parsed.skipped[0]
        logger.warning(
            "%s: skipped %d malformed rows (lenient mode); first at line %d: %s",
            path,
            len(parsed.skipped),
            line,
            problem,
        )
    return parsed


def read_annotations(path: str | Path, **kwargs: Any) -> ParsedTable:
    """Read and parse a ground-truth CSV file (see :func:`parse_annotations`)."""
    return _log_skipped(path, parse_annotations(read_text(path, "annotations"), path, **kwargs))


def read_proposals(path: str | Path, **kwargs: Any) -> ParsedTable:
    """Read and parse a person-proposal CSV file (see :func:`parse_proposals`)."""
    return _log_skipped(path, parse_proposals(read_text(path, "proposals"), path, **kwargs))


def read_exclusions(path: str | Path, **kwargs: Any) -> ParsedTable:
    """Read and parse an excluded-timestamps CSV file (see :func:`parse_exclusions`)."""
    return _log_skipped(path, parse_exclusions(read_text(path, "exclusions"), path, **kwargs))
