"""Kinetics-style video lists: one ``path label`` per line (header-less; space, tab or comma separated).

:func:`parse_kinetics_list` is pure (lines -> records); :func:`read_kinetics_list` is the file edge.
Records (docs/interfaces.md, "Kinetics records"): ``video_id`` (the path as listed), ``video_path``
(prefix joined), ``label`` (0-based int), ``source`` ("video").

A path that leaves the prefix (absolute, or climbing out with ``..``) is an error naming the file
and line unless ``allow_outside_root`` (``KINETICS.ALLOW_PATHS_OUTSIDE_ROOT``); so are bytes that are
not UTF-8 and an empty path (a line such as ``" ,5"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ava_detector.data.errors import InputFileError
from ava_detector.data.paths import resolve_under_root

__all__ = ["parse_kinetics_list", "read_kinetics_list"]

_SEPARATOR = re.compile(r"\s*,\s*|\s+")


def parse_kinetics_list(
    lines: Iterable[str],
    path: str = "<list>",
    *,
    prefix: str = "",
    num_classes: int | None = None,
    allow_outside_root: bool = False,
) -> list[dict]:
    """Records of the non-blank lines of a list; ``path`` only names the file in errors.

    The label is the last field, the video path everything before it (so paths may hold spaces
    when the separator is a comma or a tab). Labels must lie in ``[0, num_classes)`` when given; a
    video listed twice is an error (views are aggregated per video).

    Args:
        lines: the list's lines (text).
        path: the list file, named in errors.
        prefix: the folder the paths are relative to ("" = kept as written, not checked).
        num_classes: labels must be below it (None: any label >= 0).
        allow_outside_root: accept paths that leave ``prefix`` (absolute, or with ``..``).
    """
    records: list[dict] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        parts = _SEPARATOR.split(line)
        if len(parts) < 2:
            raise InputFileError(path, lineno, f"expected 'path label', got {line!r}")
        label_text = parts[-1]
        video = line[: len(line) - len(label_text)].rstrip().rstrip(",").rstrip()
        if not video:
            raise InputFileError(path, lineno, f"empty video path in {line!r}")
        try:
            label = int(label_text)
        except ValueError:
            raise InputFileError(
                path, lineno, f"label must be an integer, got {label_text!r}"
            ) from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise InputFileError(path, lineno, f"label {label} outside {bound}")
        if video in seen:
            raise InputFileError(path, lineno, f"{video!r} already listed on line {seen[video]}")
        seen[video] = lineno
        video_path = video
        if prefix:
            video_path = resolve_under_root(
                video,
                prefix,
                source=path,
                line=lineno,
                allow_outside=allow_outside_root,
                opt_in_key="KINETICS.ALLOW_PATHS_OUTSIDE_ROOT",
            )
        records.append(
            {
                "video_id": video,
                "video_path": video_path,
                "label": label,
                "source": "video",
            }
        )
    return records


def _text_lines(raw_lines: Iterable[bytes], path: str) -> Iterator[str]:
    """Decode a file's lines as UTF-8 (a leading byte-order mark is dropped); a line that is not
    UTF-8 is an :class:`InputFileError` naming the file and the line."""
    for lineno, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputFileError(
                path, lineno, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
            ) from None
        yield text.lstrip("\ufeff") if lineno == 1 else text


def read_kinetics_list(
    list_file: str | Path,
    *,
    prefix: str | None = None,
    num_classes: int | None = None,
    allow_outside_root: bool = False,
) -> list[dict]:
    """Read a list file; ``prefix`` defaults to the list's folder (``""`` keeps paths as written).

    Args:
        list_file: the ``path label`` list.
        prefix: the folder the paths are relative to.
        num_classes: labels must be below it (None: any label >= 0).
        allow_outside_root: accept paths that leave ``prefix`` (``KINETICS.ALLOW_PATHS_OUTSIDE_ROOT``).
    """
    list_file = Path(list_file)
    if list_file.is_dir():
        raise InputFileError(list_file, None, "is a directory, expected a Kinetics list file")
    if not list_file.is_file():
        raise InputFileError(list_file, None, "Kinetics list file is missing")
    if prefix is None:
        prefix = str(list_file.parent)
    try:
        with open(list_file, "rb") as f:
            records = parse_kinetics_list(
                _text_lines(f, str(list_file)),
                str(list_file),
                prefix=prefix,
                num_classes=num_classes,
                allow_outside_root=allow_outside_root,
            )
    except OSError as e:
        raise InputFileError(list_file, None, f"cannot read: {e.strerror or e}") from None
    if not records:
        raise InputFileError(list_file, None, "the list holds no video")
    return records
