"""Kinetics-style video lists: one ``path label`` per line (header-less; space, tab or comma separated).

:func:`parse_kinetics_list` is pure (lines -> records); :func:`read_kinetics_list` is the file edge.
Records (docs/interfaces.md, "Kinetics records"): ``video_id`` (the path as listed), ``video_path``
(prefix joined), ``label`` (0-based int), ``source`` ("video").
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import AVAFormatError

__all__ = ["parse_kinetics_list", "read_kinetics_list"]

_SEPARATOR = re.compile(r"\s*,\s*|\s+")


def parse_kinetics_list(
    lines: Iterable[str],
    path: str = "<list>",
    *,
    prefix: str = "",
    num_classes: int | None = None,
) -> list[dict]:
    """Records of the non-blank lines of a list; ``path`` only names the file in errors.

    The label is the last field, the video path everything before it (so paths may hold spaces
    when the separator is a comma or a tab). Labels must lie in ``[0, num_classes)`` when given; a
    video listed twice is an error (views are aggregated per video).
    """
    records: list[dict] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        parts = _SEPARATOR.split(line)
        if len(parts) < 2:
            raise AVAFormatError(path, lineno, f"expected 'path label', got {line!r}")
        label_text = parts[-1]
        video = line[: len(line) - len(label_text)].rstrip().rstrip(",").rstrip()
        try:
            label = int(label_text)
        except ValueError:
            raise AVAFormatError(path, lineno, f"label must be an integer, got {label_text!r}") from None
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise AVAFormatError(path, lineno, f"label {label} outside {bound}")
        if video in seen:
            raise AVAFormatError(path, lineno, f"{video!r} already listed on line {seen[video]}")
        seen[video] = lineno
        records.append(
            {
                "video_id": video,
                "video_path": os.path.join(prefix, video) if prefix else video,
                "label": label,
                "source": "video",
            }
        )
    return records


def read_kinetics_list(
    list_file: str | Path, *, prefix: str | None = None, num_classes: int | None = None
) -> list[dict]:
    """Read a list file; ``prefix`` defaults to the list's folder (``""`` keeps paths as written)."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise AVAFormatError(list_file, None, "Kinetics list file is missing")
    if prefix is None:
        prefix = str(list_file.parent)
    with open(list_file, encoding="utf-8") as f:
        records = parse_kinetics_list(f, str(list_file), prefix=prefix, num_classes=num_classes)
    if not records:
        raise AVAFormatError(list_file, None, "the list holds no video")
    return records
