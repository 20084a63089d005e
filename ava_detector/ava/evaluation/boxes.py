"""The box tables: ``AVABoxes``, the rows of an AVA CSV as columns, and ``ChunkedBoxes``, box
columns kept in the chunks a CSV reader parsed them into.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AVABoxes", "ChunkedBoxes"]


class ChunkedBoxes:
    """(N, 4) boxes kept as the consecutive chunks a CSV reader parsed them into (x1, y1, x2, y2
    columns per chunk, e.g. views of its buffers), so that only the rows asked for are copied."""

    def __init__(self, chunks: Sequence[Sequence[np.ndarray]]):
        """Args:
        chunks: per chunk, its four float64 columns of equal length, in row order.
        """
        self.chunks = [tuple(c) for c in chunks]
        lengths = [len(c[0]) for c in self.chunks]
        self.starts = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=self.starts[1:])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def columns(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """x1, y1, x2, y2 of ``rows`` (indices as NumPy takes them), four new arrays.

        Args:
            rows: integer row indices.
        """
        n = len(self)
        rows = np.asarray(rows)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            rows = np.arange(n)[rows]  # NumPy's wrap-around and its IndexError
        if len(rows) > 1 and not np.all(rows[1:] >= rows[:-1]):
            order = np.argsort(rows, kind="stable")
            ordered = self.columns(rows[order])
            out = tuple(np.empty(len(rows)) for _ in range(4))
            for o, col in zip(out, ordered):
                o[order] = col
            return out
        out = tuple(np.empty(len(rows)) for _ in range(4))
        cut = np.searchsorted(rows, self.starts).tolist()
        for c, chunk in enumerate(self.chunks):
            a, z = cut[c], cut[c + 1]
            if a == z:
                continue
            local = rows[a:z] - self.starts[c]
            for o, col in zip(out, chunk):
                np.take(col, local, out=o[a:z], mode="clip")  # in range: checked above
        return out

    def array(self) -> np.ndarray:
        """All rows as one (N, 4) array."""
        cols = np.empty((4, len(self)))
        for c, chunk in enumerate(self.chunks):
            for k, col in enumerate(chunk):
                cols[k, self.starts[c] : self.starts[c + 1]] = col
        return cols.T


@dataclass(frozen=True)
class AVABoxes:
    """Rows of an AVA CSV as columns, in file order.

    ``video`` holds codes into ``videos``; ``label`` 0 marks a keyframe row without a box (the
    2-column ``video_id,timestamp`` rows; also used for exclusion lists). Boxes are normalised
    XYXY, float64 (parsed as Python parses floats, so IoUs equal the official script's). A reader
    may give them as ``ChunkedBoxes``: ``boxes`` then joins them on first use, ``box_columns`` and
    ``take`` copy only the rows asked for.
    """

    videos: tuple[str, ...]
    video: np.ndarray  # (N,) int32 codes into ``videos``
    time: np.ndarray  # (N,) float64 second as written
    box_data: np.ndarray | ChunkedBoxes  # (N, 4) float64 x1, y1, x2, y2 (NaN for label-0 rows)
    label: np.ndarray  # (N,) int64 action id, 0 = keyframe without box
    score: np.ndarray  # (N,) float64 column 8 (ground truth: the person id), 1.0 when absent
    row_index: np.ndarray | None = None  # (N,) int64 original row index; None: 0..N-1

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) float64 x1, y1, x2, y2 (NaN for label-0 rows)."""
        if isinstance(self.box_data, ChunkedBoxes):
            object.__setattr__(self, "box_data", self.box_data.array())  # joined once
        assert isinstance(self.box_data, np.ndarray)
        return self.box_data

    def box_columns(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """x1, y1, x2, y2 of ``rows``, four new arrays.

        Args:
            rows: integer row indices.
        """
        if isinstance(self.box_data, ChunkedBoxes):
            return self.box_data.columns(rows)
        return tuple(self.box_data[:, k][rows] for k in range(4))

    @property
    def row(self) -> np.ndarray:
        """(N,) int64 original row index (file order)."""
        return np.arange(len(self.video)) if self.row_index is None else self.row_index

    def __len__(self) -> int:
        return len(self.video)

    def take(self, index: slice | np.ndarray | Sequence[int]) -> AVABoxes:
        """Rows selected by a boolean mask, an index array or a slice (same vocabulary).

        Args:
            index: anything NumPy accepts as a first-axis index.
        """
        if self.row_index is not None:
            row = self.row_index[index]
        elif isinstance(index, slice):
            row = np.arange(*index.indices(len(self)))
        else:
            index = np.asarray(index)
            row = np.flatnonzero(index) if index.dtype == bool else index.astype(np.int64)
        if isinstance(self.box_data, ChunkedBoxes):
            boxes = np.stack(self.box_data.columns(np.arange(len(self))[index]), axis=1)
        else:
            boxes = self.box_data[index]
        return AVABoxes(
            self.videos,
            self.video[index],
            self.time[index],
            boxes,
            self.label[index],
            self.score[index],
            row,
        )

    def keyframes(self) -> AVABoxes:
        """One label-0 row per distinct (video, second), in first-appearance order."""
        if not len(self):
            return self
        pairs = np.stack([self.video.astype(np.float64), self.time], axis=1)
        _, first = np.unique(pairs, axis=0, return_index=True)
        first = np.sort(first)
        n = len(first)
        return AVABoxes(
            self.videos,
            self.video[first],
            self.time[first],
            np.full((n, 4), np.nan),
            np.zeros(n, np.int64),
            np.ones(n),
            self.row[first],
        )

    @staticmethod
    def from_rows(rows: Iterable[Sequence]) -> AVABoxes:
        """From ``(video, second[, x1, y1, x2, y2, action_id[, score]])`` tuples (tests, small inputs).

        Args:
            rows: the tuples, in file order.
        """
        rows = list(rows)
        videos = tuple(dict.fromkeys(str(r[0]) for r in rows))
        code = {v: i for i, v in enumerate(videos)}
        n = len(rows)
        boxes = np.full((n, 4), np.nan)
        label = np.zeros(n, np.int64)
        score = np.ones(n)
        for i, r in enumerate(rows):
            if len(r) >= 7:
                boxes[i] = [float(x) for x in r[2:6]]
                label[i] = int(r[6])
            if len(r) >= 8:
                score[i] = float(r[7])
        return AVABoxes(
            videos,
            np.array([code[str(r[0])] for r in rows], np.int32),
            np.array([float(r[1]) for r in rows], np.float64),
            boxes,
            label,
            score,
        )

    @staticmethod
    def empty(videos: tuple[str, ...] = ()) -> AVABoxes:
        """A table without rows over the vocabulary ``videos``.

        Args:
            videos: the video names its (absent) rows would index.
        """
        return AVABoxes(
            videos,
            np.zeros(0, np.int32),
            np.zeros(0),
            np.zeros((0, 4)),
            np.zeros(0, np.int64),
            np.zeros(0),
        )

    @staticmethod
    def concatenate(parts: Sequence[AVABoxes], videos: tuple[str, ...]) -> AVABoxes:
        """Join parts that already share the vocabulary ``videos``.

        Args:
            parts: tables whose ``video`` codes index ``videos``.
            videos: the shared vocabulary.
        """
        if not parts:
            return AVABoxes.empty(videos)
        if len(parts) == 1:
            return AVABoxes(
                videos,
                *(
                    getattr(parts[0], f)
                    for f in ("video", "time", "box_data", "label", "score", "row_index")
                ),
            )
        return AVABoxes(
            videos,
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("video", "time", "boxes", "label", "score", "row")
            ),
        )
