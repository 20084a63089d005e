"""PySlowFast frame lists: ``frame_lists/{train,val}.csv``.

A header line ``original_vido_id video_id frame_id path labels`` (sic), then one whitespace-separated
row per frame; the row order within a video is the frame index. Paths are relative to the frames
directory. Parsing is pure; :func:`format_frame_list` is its inverse (used by the data-prep scripts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ava_detector.ava.data.csv_formats import read_text
from ava_detector.data.errors import InputFileError

__all__ = ["FRAME_LIST_HEADER", "parse_frame_list", "read_frame_list", "format_frame_list"]

FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"


def parse_frame_list(text: str, path: str | Path = "<frame list>") -> dict[str, list[str]]:
    """Frame list text -> ``{video_id: [relative frame path, ...]}`` in row order (= frame index)."""
    lines = pd.Series(text.split("\n"), dtype=object).str.rstrip("\r")
    nonblank = lines.str.strip().str.len() > 0
    if not nonblank.any():
        raise InputFileError(path, None, "empty frame list (expected a header line)")
    first = int(np.flatnonzero(nonblank.to_numpy())[0])
    if lines.iloc[first].split() != FRAME_LIST_HEADER.split():
        raise InputFileError(path, first + 1, f"expected the header {FRAME_LIST_HEADER!r}")
    rows = lines.iloc[first + 1 :][nonblank.iloc[first + 1 :]]
    if len(rows) == 0:
        return {}
    fields = rows.str.split()
    counts = fields.str.len().to_numpy()
    bad = counts < 4
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError(
            path,
            int(rows.index[i]) + 1,
            f"expected 'original_vido_id video_id frame_id path labels', got {counts[i]} fields",
        )
    frame_ids = pd.to_numeric(fields.str[2], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(frame_ids) | (frame_ids != np.round(frame_ids))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError(path, int(rows.index[i]) + 1, "frame_id must be an integer")
    table = pd.DataFrame({"video": fields.str[0].to_numpy(), "path": fields.str[3].to_numpy()})
    return {str(v): list(g["path"]) for v, g in table.groupby("video", sort=False)}


def read_frame_list(path: str | Path) -> dict[str, list[str]]:
    """Read a frame-list file (see :func:`parse_frame_list`)."""
    return parse_frame_list(read_text(path, "frame list"), path)


def format_frame_list(videos: dict[str, list[str]]) -> str:
    """``{video_id: [relative paths]}`` -> frame-list text (video index, frame index, empty labels)."""
    out = [FRAME_LIST_HEADER]
    for video_index, (video_id, frames) in enumerate(videos.items()):
        out.extend(f'{video_id} {video_index} {i} {p} ""' for i, p in enumerate(frames))
    return "\n".join(out) + "\n"
