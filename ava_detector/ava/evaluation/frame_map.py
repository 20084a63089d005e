"""AVA frame-level mAP@0.5IOU, vectorised with NumPy; no I/O.

Reproduces the official ActivityNet ``get_ava_performance.py`` (``official``) step by step, and the
evaluators users compare against, selected by ``protocol``:

=====================  =======  ====  =====================  ==================  =======================
protocol               keys     cap   keyframes not in GT    match order         mean over
=====================  =======  ====  =====================  ==================  =======================
``official``           decimal  50    ignored                score, descending   classes with GT
``activitynet-2019``   %04d     50    false positives        score, descending   classes with GT
``pyslowfast``         %04d     none  false positives        file order          classes with GT
``mmaction2``          %04d     none  false positives        score, descending   classes with GT and
                                                                                 at least one detection
=====================  =======  ====  =====================  ==================  =======================

Common to all: keys are (video id, second); ``decimal`` keys compare the second as a number
(``0902`` = ``902`` = ``902.0`` != ``902.5``), ``%04d`` keys truncate it to an integer. Excluded keys
are dropped from both sides; rows whose action id is not evaluated are dropped from both sides (a
ground-truth keyframe still counts as annotated). The cap keeps, per keyframe, the 50 largest rows
by ``(score, action_id, y1, x1, y2, x2)`` as the official streaming heap does (its file-order
ties at the 50th place settled by replaying that heap). Detection boxes with ``x2 <= x1`` or
``y2 <= y1`` are dropped after the cap. Each detection takes the ground-truth box of its class and
keyframe with the highest IoU; IoU >= 0.5 and that box not yet taken -> true positive, otherwise
false positive. AP is VOC "all points" over each class's detections sorted by score; a class with
ground truth but no detections has AP 0 (NaN under ``mmaction2``), one without ground truth NaN.

Order among equal scores, where it changes a result, is the official script's:

* within a keyframe, rows are held in a heap and then sorted by score with a stable sort, so equal
  scores of one class keep their heap positions: matching follows that order, and an IoU tie between
  ground-truth boxes goes to the first in the ground truth's heap (``official``, ``activitynet-2019``;
  the other protocols keep file order);
* each class's detections are concatenated keyframe by keyframe (first appearance in the file) and
  ranked with ``numpy.argsort``'s default, unstable sort, reversed. This module builds that same array
  and calls the same sort, so the result equals the official script's run with the same NumPy on the
  same CPU. NumPy picks its sort kernel by CPU (AVX-512, AVX2 or none), and with tied scores the
  kernels order them differently: the official script itself then gives different APs on different
  machines.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PROTOCOLS",
    "AVABoxes",
    "ChunkedBoxes",
    "EvalProtocol",
    "FrameMAPResult",
    "frame_map",
    "get_protocol",
    "prune_detections",
    "DetectionPruner",
]


@dataclass(frozen=True)
class EvalProtocol:
    """How one evaluator differs from the others (see the module docstring)."""

    name: str
    integer_seconds: bool  # keys use int(second) (%04d) instead of the decimal value
    cap: int  # detections kept per keyframe (0 = all)
    ignore_unannotated: bool  # detections on keyframes absent from the GT are ignored (vs. FPs)
    score_order_matching: bool  # match detections by descending score (vs. file order)
    mean_over_detected: bool  # mAP over classes that received detections only
    heap_order: bool = False  # equal scores within a keyframe in the official heap's order


PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol("official", False, 50, True, True, False, True),
        EvalProtocol("activitynet-2019", True, 50, False, True, False, True),
        EvalProtocol("pyslowfast", True, 0, False, False, False),
        EvalProtocol("mmaction2", True, 0, False, True, True),
    )
}


def get_protocol(name: str | EvalProtocol) -> EvalProtocol:
    """Look up a protocol by name.

    Args:
        name: a key of ``PROTOCOLS`` or an ``EvalProtocol`` (returned as is).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(name, EvalProtocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(
            f"unknown AVA evaluation protocol {name!r}; use one of {sorted(PROTOCOLS)}"
        )
    return PROTOCOLS[name]


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
    def concatenate(parts: Sequence[AVABoxes], videos: tuple[str, ...]) -> AVABoxes:
        """Join parts that already share the vocabulary ``videos``.

        Args:
            parts: tables whose ``video`` codes index ``videos``.
            videos: the shared vocabulary.
        """
        if not parts:
            return AVABoxes(
                videos,
                np.zeros(0, np.int32),
                np.zeros(0),
                np.zeros((0, 4)),
                np.zeros(0, np.int64),
                np.zeros(0),
            )
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


@dataclass(frozen=True)
class FrameMAPResult:
    """mAP and per-class AP (0-1 scale); NaN = class not counted in the mean."""

    mAP: float
    per_class: dict[int, float]
    num_groundtruth: dict[int, int]
    num_detections: dict[int, int]
    protocol: str


# --------------------------------------------------------------------------------------------------
# Keys: (video name, second) -> int64, consistent across the tables of one evaluation.


@dataclass(frozen=True)
class _Runs:
    """A table cut into runs of consecutive rows with one key (files list a keyframe's rows
    together, so runs are few): run starts, lengths and keys."""

    start: np.ndarray
    length: np.ndarray
    key: np.ndarray

    def row_keys(self) -> np.ndarray:
        return np.repeat(self.key, self.length)


def _seconds(time: np.ndarray, integer_seconds: bool) -> np.ndarray:
    """The second a key compares.

    Args:
        time: seconds as written.
        integer_seconds: truncate to an integer (``%04d`` keys).
    """
    return np.trunc(time) if integer_seconds else time


def _runs_of(
    tables: Sequence[tuple[tuple[str, ...], np.ndarray, np.ndarray] | None], integer_seconds: bool
) -> list[_Runs | None]:
    """Runs of every table, keyed in one vocabulary of videos and seconds.

    Args:
        tables: ``(videos, video codes, seconds)`` per table (``None`` entries give ``None``).
        integer_seconds: key on ``int(second)`` instead of the second's value.
    """
    names: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = []
    for t in tables:
        if t is None:
            parts.append(None)
            continue
        videos, video, time = t
        remap = np.array([names.setdefault(v, len(names)) for v in videos] + [0], np.int64)
        n = len(video)
        sec = _seconds(time, integer_seconds)
        change = np.ones(n, bool)
        if n > 1:
            np.not_equal(video[1:], video[:-1], out=change[1:])
            change[1:] |= sec[1:] != sec[:-1]
        start = np.flatnonzero(change)
        parts.append((start, np.diff(np.append(start, n)), remap[video[start]], sec[start] + 0.0))
    present = [p for p in parts if p is not None]
    times = np.unique(np.concatenate([p[3] for p in present])) if present else np.zeros(0)
    out: list[_Runs | None] = []
    for p in parts:
        if p is None:
            out.append(None)
            continue
        start, length, vid, sec = p
        out.append(_Runs(start, length, vid * max(len(times), 1) + np.searchsorted(times, sec)))
    return out


def _columns(t: AVABoxes | None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
    """The key columns of a table, for ``_runs_of``.

    Args:
        t: a table or ``None``.
    """
    return None if t is None else (t.videos, t.video, t.time)


def _class_index(label: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of each row's action id in ``ids`` (int16), -1 for ids not evaluated.

    Args:
        label: action ids.
        ids: evaluated ids, ascending.
    """
    if not len(ids):
        return np.full(len(label), -1, np.int16)
    lut = np.full(int(ids.max()) + 2, -1, np.int16)
    lut[ids] = np.arange(len(ids), dtype=np.int16)
    if len(label) and (label.min() < 0 or label.max() > ids.max()):
        label = np.where((label < 0) | (label > ids.max()), ids.max() + 1, label)
    return lut[label]


# --------------------------------------------------------------------------------------------------
# The official heap (its ``read_csv``), replayed on the few keyframes where its layout matters.


def _heap_items(t: AVABoxes, rows: np.ndarray) -> list[tuple]:
    """The official heap entries ``(score, action_id, y1, x1, y2, x2)`` of ``rows``.

    Args:
        t: a table.
        rows: its rows, in file order.
    """
    x1, y1, x2, y2 = t.box_columns(rows)
    return list(
        zip(
            t.score[rows].tolist(),
            t.label[rows].tolist(),
            y1.tolist(),
            x1.tolist(),
            y2.tolist(),
            x2.tolist(),
        )
    )


def _replay_heap(items: list[tuple], cap: int) -> list[tuple]:
    """The official streaming heap over ``items`` (file order): push while below ``cap`` (0 = no
    cap), else replace the minimum if the new score is strictly larger; then its stable sort by
    descending score.

    Args:
        items: heap entries in file order.
        cap: entries kept (0 = all).

    Returns:
        The kept entries in that final order.
    """
    heap: list[tuple] = []
    for item in items:
        if cap < 1 or len(heap) < cap:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    return sorted(heap, key=lambda it: -it[0])


def _positions(items: list[tuple], rows: np.ndarray, final: list[tuple]) -> dict[int, int]:
    """Row -> position in ``final``; rows of identical entries are interchangeable and get their
    positions in order.

    Args:
        items: the entries of ``rows``.
        rows: table rows.
        final: entries in their final order (a subset of ``items``).
    """
    where: dict[tuple, list[int]] = {}
    for pos, it in enumerate(final):
        where.setdefault(it, []).append(pos)
    out: dict[int, int] = {}
    for r, it in zip(rows.tolist(), items):
        slots = where.get(it)
        if slots:
            out[r] = slots.pop(0)
    return out


def _float32_key(score: np.ndarray) -> np.ndarray:
    """int32 keys in the order of the scores rounded to float32 (equal floats, equal keys).

    Args:
        score: float64 scores.
    """
    f32 = score.astype(np.float32)
    f32 += np.float32(0.0)  # -0.0 -> 0.0
    key = f32.view(np.int32)
    flip = key >> 31
    flip &= np.int32(0x7FFFFFFF)
    key ^= flip  # negative floats: reversed magnitude
    return key


def _cap_keep(
    group: np.ndarray,
    score: np.ndarray,
    counts: np.ndarray,
    cap: int,
    det: AVABoxes,
    rows: np.ndarray | None,
) -> np.ndarray:
    """Mask of the rows the official per-keyframe heap of ``cap`` entries keeps.

    Rows scoring above the ``cap``-th score of their keyframe are kept, rows below never; ties at
    that score are settled by replaying the heap on the rows at or above it (which alone decide
    who stays). One sort of (keyframe, float32 score) keys finds the boundaries; float32 rounding
    only merges scores, so keyframes where it leaves more than ``cap`` candidates are redone in
    float64.

    Args:
        group: keyframe index per row (0 <= group < len(counts)).
        score: score per row.
        counts: rows per keyframe.
        cap: entries per keyframe.
        det: the detections table, for the heap entries of replayed rows.
        rows: ``det`` row of each entry (``None``: the identity).
    """
    big = counts > cap
    key = _float32_key(score)
    srt = group.astype(np.int64)
    srt <<= 32
    srt += key  # (keyframe, key) in lexicographic order
    srt.sort()
    ends = np.cumsum(counts)
    thr = np.full(len(counts), np.iinfo(np.int32).min, np.int32)
    at = srt[ends[big] - cap]
    thr[big] = (at - (np.flatnonzero(big).astype(np.int64) << 32)).astype(np.int32)
    ncand = np.zeros(len(counts), np.int64)
    ncand[big] = ends[big] - np.searchsorted(srt, at)
    del srt
    keep = key >= thr[group]
    del key
    amb = np.flatnonzero(big & (ncand > cap))
    if not len(amb):
        return keep
    in_amb = np.zeros(len(counts), bool)
    in_amb[amb] = True
    sel = np.flatnonzero(keep & in_amb[group])
    sel = sel[np.lexsort((score[sel], group[sel]))]
    g_sel = group[sel]
    starts = np.searchsorted(g_sel, amb)
    ends_ = np.searchsorted(g_sel, amb, "right")
    keep[sel] = False
    for lo, hi in zip(starts.tolist(), ends_.tolist()):
        cand = sel[lo:hi]
        boundary = score[cand[-cap]]
        above = cand[score[cand] >= boundary]
        if len(above) <= cap:
            keep[above] = True
            continue
        above = np.sort(above)  # file order
        src = above if rows is None else rows[above]
        items = _heap_items(det, src)
        pos = _positions(items, src, _replay_heap(items, cap))
        keep[above[[r in pos for r in src.tolist()]]] = True
    return keep


# --------------------------------------------------------------------------------------------------


def prune_detections(
    detections: AVABoxes,
    ground_truth_keys: AVABoxes | None,
    evaluated_ids: Iterable[int],
    excluded: AVABoxes | None,
    protocol: str | EvalProtocol = "official",
) -> AVABoxes:
    """Drop detection rows that cannot affect ``frame_map``: ids not evaluated, excluded keyframes
    and (protocols that ignore them) keyframes absent from the ground truth.

    Args:
        detections: rows to filter (e.g. one chunk of a large file).
        ground_truth_keys: the ground truth's keyframes (``AVABoxes.keyframes``); ``None`` skips
            the keyframe filter.
        evaluated_ids: the evaluated action ids.
        excluded: the exclusion list's keyframes, or ``None``.
        protocol: a protocol name or ``EvalProtocol``.
    """
    return DetectionPruner(ground_truth_keys, evaluated_ids, excluded, protocol)(detections)


class DetectionPruner:
    """``prune_detections`` with its keyframe sets encoded once, for chunked readers.

    Every row of a kept keyframe and evaluated id stays: the official heap's order on equal
    scores depends on all of them.
    """

    def __init__(
        self,
        ground_truth_keys: AVABoxes | None,
        evaluated_ids: Iterable[int],
        excluded: AVABoxes | None,
        protocol: str | EvalProtocol = "official",
    ):
        """Args:
        ground_truth_keys: the ground truth's keyframes, or ``None``.
        evaluated_ids: the evaluated action ids.
        excluded: the exclusion list's keyframes, or ``None``.
        protocol: a protocol name or ``EvalProtocol``.
        """
        self.protocol = p = get_protocol(protocol)
        self.ids = np.array(sorted(set(int(i) for i in evaluated_ids)), np.int64)
        self._names: dict[tuple[str, float], bool] = {}
        for t, drop in (
            (excluded, True),
            (ground_truth_keys if p.ignore_unannotated else None, False),
        ):
            if t is None:
                continue
            sec = _seconds(t.time, p.integer_seconds) + 0.0
            for v, s in zip(t.video.tolist(), sec.tolist()):
                self._names.setdefault((t.videos[v], s), drop)
        self._filter_unannotated = p.ignore_unannotated and ground_truth_keys is not None

    def __call__(self, detections: AVABoxes) -> AVABoxes:
        """Args:
        detections: rows to filter.
        """
        keep = _class_index(detections.label, self.ids) >= 0
        if self._names or self._filter_unannotated:
            runs = _runs_of([_columns(detections)], self.protocol.integer_seconds)[0]
            assert runs is not None  # its table is given
            sec = _seconds(detections.time[runs.start], self.protocol.integer_seconds) + 0.0
            ok = []
            for v, s in zip(detections.video[runs.start].tolist(), sec.tolist()):
                state = self._names.get((detections.videos[v], s))
                ok.append(state is False or (state is None and not self._filter_unannotated))
            keep &= np.repeat(np.array(ok, bool), runs.length)
        return detections.take(keep)


# --------------------------------------------------------------------------------------------------


def _iou(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> np.ndarray:
    """Row-wise IoU of XYXY boxes given as (x1, y1, x2, y2) columns, in the official script's
    operation order (no +1 term).

    Args:
        a, b: the two sets of box columns, same length.
    """
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    h = np.maximum(0.0, np.minimum(ay2, by2) - np.maximum(ay1, by1))
    w = np.maximum(0.0, np.minimum(ax2, bx2) - np.maximum(ax1, bx1))
    inter = h * w
    area_a = (ay2 - ay1) * (ax2 - ax1)
    area_b = (by2 - by1) * (bx2 - bx1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_a + area_b - inter)


def _average_precision(tp: np.ndarray, num_gt: int) -> float:
    """VOC all-points AP of true-positive flags sorted by descending score, with the official
    script's operations (integer counts, then float64 division; the sum over the recall steps as
    one ``numpy.sum``).

    Args:
        tp: true-positive flag per detection, in rank order.
        num_gt: ground-truth boxes of the class (> 0).
    """
    cum_tp = np.cumsum(tp, dtype=np.int64)
    cum_fp = np.arange(1, len(tp) + 1, dtype=np.int64) - cum_tp
    precision = cum_tp.astype(np.float64) / (cum_tp + cum_fp)
    recall = cum_tp.astype(np.float64) / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changed] - recall[changed - 1]) * precision[changed]))


def _in_file_order(t: AVABoxes) -> AVABoxes:
    """``t`` sorted by its row index (as it is when read from a file).

    Args:
        t: a table.
    """
    row = t.row_index
    if row is not None and len(t) > 1 and not np.all(row[1:] >= row[:-1]):
        return t.take(np.argsort(row, kind="stable"))
    return t


def _bits(n: int) -> int:
    """Bits that hold 0..n (at least one).

    Args:
        n: the largest value.
    """
    return max(int(n).bit_length(), 1)


def frame_map(
    ground_truth: AVABoxes,
    detections: AVABoxes,
    evaluated_ids: Iterable[int],
    excluded_keys: AVABoxes | None = None,
    protocol: str | EvalProtocol = "official",
) -> FrameMAPResult:
    """Frame-level AP@0.5IOU per evaluated class and their mean (0-1 scale).

    Args:
        ground_truth: the ground-truth CSV's rows (``score``: column 8 when present, which the
            official script reads as a score too; it orders equal boxes only).
        detections: the detection CSV's rows; their file order matters where the official
            script's does (first appearance of keyframes, equal scores).
        evaluated_ids: the evaluated action ids (the label map's).
        excluded_keys: the exclusion list's keyframes, or ``None``.
        protocol: a protocol name or ``EvalProtocol``.
    """
    p = get_protocol(protocol)
    ids = np.array(sorted(set(int(i) for i in evaluated_ids)), np.int64)
    ncls = len(ids)
    gt, det = _in_file_order(ground_truth), _in_file_order(detections)

    # Detections of evaluated ids, cut into runs of one keyframe.
    dcls_all = _class_index(det.label, ids)
    wl = dcls_all >= 0
    idx = None if wl.all() else np.flatnonzero(wl)
    del wl
    dcols = (
        (det.videos, det.video, det.time)
        if idx is None
        else (det.videos, det.video[idx], det.time[idx])
    )
    gruns, druns, xruns = _runs_of(
        [_columns(gt), dcols, _columns(excluded_keys)], p.integer_seconds
    )
    assert gruns is not None and druns is not None  # their tables are given

    # Ground truth: every row makes its keyframe annotated; evaluated ids give the boxes.
    gkey = gruns.row_keys()
    xkeys = np.unique(xruns.key) if xruns is not None else np.zeros(0, np.int64)
    gkeep = ~np.isin(gkey, xkeys) if len(xkeys) else np.ones(len(gt), bool)
    annotated = np.unique(gkey[gkeep])
    gcls = _class_index(gt.label, ids)
    gsel = np.flatnonzero(gkeep & (gcls >= 0))
    num_gt = np.bincount(gcls[gsel], minlength=ncls) if ncls else np.zeros(0, np.int64)

    # Keyframes numbered by the first appearance of an evaluated row (the official order).
    uk, first, inv = np.unique(druns.key, return_index=True, return_inverse=True)
    nkf = len(uk)
    rank = np.empty(nkf, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(nkf)
    kf_key = np.empty_like(uk)
    kf_key[rank] = uk
    group_w = np.repeat(rank[inv].astype(np.int32), druns.length)  # per evaluated row
    kf_ok = np.ones(nkf, bool)
    if len(xkeys):
        kf_ok &= ~np.isin(kf_key, xkeys)
    if p.ignore_unannotated:
        kf_ok &= np.isin(kf_key, annotated)
    rows, group = idx, group_w
    if not kf_ok.all():
        pos = np.flatnonzero(kf_ok[group_w])
        rows, group = (pos if idx is None else idx[pos]), group_w[pos]
    score = det.score if rows is None else det.score[rows]

    def keyframe_rows(kfs: np.ndarray) -> dict[int, np.ndarray]:
        """Detection rows of evaluated ids per keyframe, in file order (for heap replays)."""
        want = np.zeros(nkf, bool)
        want[kfs] = True
        sel = np.flatnonzero(want[group_w])
        sel = sel[np.argsort(group_w[sel], kind="stable")]
        g = group_w[sel]
        src = sel if idx is None else idx[sel]
        cut = np.flatnonzero(np.diff(g)) + 1
        return {int(k[0]): r for k, r in zip(np.split(g, cut), np.split(src, cut))}

    # The per-keyframe cap, then invalid boxes.
    if p.cap > 0 and len(group):
        counts = np.bincount(rank[inv], weights=druns.length, minlength=nkf).astype(np.int64)
        counts[~kf_ok] = 0
        if counts.max() > p.cap:
            keep = np.flatnonzero(_cap_keep(group, score, counts, p.cap, det, rows))
            rows = keep if rows is None else rows[keep]
            group, score = group[keep], score[keep]
    if rows is None:
        rows = np.arange(len(det))
    x1, y1, x2, y2 = det.box_columns(rows)
    cls = dcls_all[rows]
    del dcls_all
    invalid = ~((x2 > x1) & (y2 > y1))
    if invalid.any():  # class ``ncls``: ranked last, in no class's AP, matched to nothing
        cls[invalid] = ncls
    del invalid

    # The official order: by class, keyframe, then the keyframe's own order.
    layout, d_group = _layout(cls, group, score, rows, det, p, ncls, nkf, keyframe_rows)
    del keyframe_rows
    group_w = np.zeros(0, np.int32)  # (its memory; the replays are done)
    per_cls = np.bincount(cls, minlength=ncls + 1)[:ncls]
    score, rows = score[layout], rows[layout]
    boxes = (x1, y1, x2, y2)  # in ``rows``' order: the matching takes the few it needs
    del cls, group

    # Ground-truth rows of evaluated ids on keyframes with detections.
    by_key = np.argsort(kf_key)
    at = np.minimum(np.searchsorted(kf_key, gkey[gsel], sorter=by_key), max(nkf - 1, 0))
    found = (kf_key[by_key[at]] == gkey[gsel]) if nkf else np.zeros(len(gsel), bool)
    g_rows = gsel[found]
    g_group = gcls[g_rows].astype(np.int64) * nkf + by_key[at[found]]
    tp = _match(gt, g_rows, g_group, d_group, boxes, layout, p, nkf)

    # Per class: the layout is the official concatenation; rank it with the same sort.
    hi = np.cumsum(per_cls)
    lo = hi - per_cls
    per_class: dict[int, float] = {}
    num_det: dict[int, int] = {}
    ap = np.full(int(ids.max()) if ncls else 0, np.nan)
    for k, c in enumerate(ids.tolist()):
        a, z = int(lo[k]), int(hi[k])
        num_det[c] = z - a
        if num_gt[k] == 0 or (p.mean_over_detected and z == a):
            per_class[c] = float("nan")
            continue
        ranked = np.argsort(score[a:z])[::-1]
        per_class[c] = ap[c - 1] = _average_precision(tp[a:z][ranked], int(num_gt[k]))
    mean = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return FrameMAPResult(
        mean, per_class, {c: int(num_gt[k]) for k, c in enumerate(ids.tolist())}, num_det, p.name
    )


def _layout(
    cls: np.ndarray,
    group: np.ndarray,
    score: np.ndarray,
    rows: np.ndarray,
    det: AVABoxes,
    p: EvalProtocol,
    ncls: int,
    nkf: int,
    keyframe_rows: Callable[[np.ndarray], dict[int, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation putting the kept detections in the official script's order: by class, then
    keyframe (first appearance), then the keyframe's order (score descending with ties in heap or
    file order, or file order alone); and each detection's group ``class * nkf + keyframe`` in
    that order.

    One sort of a 64-bit key (class, keyframe, float32 score or file position); float32 rounding
    only merges scores, so the rows it leaves equal are ordered again exactly.

    Args:
        cls, group, score, rows: class index (``ncls`` for invalid boxes, put last), keyframe
            number, score and ``det`` row per detection (rows ascending).
        det: the detections table.
        p: the protocol.
        ncls, nkf: numbers of classes and keyframes.
        keyframe_rows: keyframe numbers -> their evaluated rows in file order (heap replays).
    """
    m = len(cls)
    if m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if p.score_order_matching:
        within = np.int64(2**31 - 1) - _float32_key(score)  # descending, in [0, 2**32)
        rb = 32
    else:
        within, rb = np.arange(m, dtype=np.int64), _bits(m - 1)
    cb, gb = _bits(ncls), _bits(nkf - 1)  # classes 0..ncls (ncls: invalid boxes)
    if cb + gb + rb > 63:
        raise ValueError(f"too many keyframes ({nkf}) or detections ({m}) for one 64-bit sort key")
    comp = cls.astype(np.int64)
    comp <<= gb
    comp |= group
    comp <<= rb
    comp |= within
    del within
    layout, cs = _sort_with_rows(comp, group, nkf, rb, p.score_order_matching)
    del comp
    tie = cs[1:] == cs[:-1]
    cs >>= rb  # class << gb | keyframe
    tie &= cs[1:] < (ncls << gb)  # invalid boxes need no order
    d_group = (cs >> gb) * nkf + (cs & ((1 << gb) - 1))
    del cs
    if not tie.any():
        return layout, d_group
    # Rows with equal keys: exact score (descending), then heap position (official scripts) or
    # file order.
    t = np.flatnonzero(tie)
    members = np.unique(np.concatenate([t, t + 1]))
    starts = np.ones(len(members), bool)
    starts[1:] = ~tie[members[1:] - 1]
    run = np.cumsum(starts)
    mrows = rows[layout[members]]
    neg = -score[layout[members]]
    second = mrows
    if p.heap_order:
        o = np.lexsort((neg, run))
        same = (run[o][1:] == run[o][:-1]) & (neg[o][1:] == neg[o][:-1])
        second = np.zeros(len(members), np.int64)
        if same.any():
            both = np.unique(np.concatenate([o[1:][same], o[:-1][same]]))
            kfs = np.unique(group[layout[members[both]]])
            place: dict[int, int] = {}
            for src in keyframe_rows(kfs).values():
                items = _heap_items(det, src)
                place.update(_positions(items, src, _replay_heap(items, p.cap)))
            second[both] = [place.get(r, -1) for r in mrows[both].tolist()]
    layout[members] = layout[members][np.lexsort((second, neg, run))]
    return layout, d_group


def _sort_with_rows(
    comp: np.ndarray, group: np.ndarray, nkf: int, rb: int, ties: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``comp`` sorted, and the permutation that sorts it (rows of equal keys in their order in
    ``comp``, which ``_layout`` then orders exactly), from NumPy's plain sort, several times faster
    than ``argsort`` (SIMD): each key carries, below it, the row's position among its keyframe's
    rows (``ties``; without, the low ``rb`` bits already hold the row), so that the keys are
    distinct and name their rows. ``argsort`` where the position does not fit in 64 bits.

    Args:
        comp: non-negative keys ``... << rb | within``, whose bits above ``rb`` end with the
            keyframe (``group``, ``_bits(nkf - 1)`` bits).
        group: keyframe number per row.
        nkf: number of keyframes.
        rb: bits below the keyframe.
        ties: whether keys may be equal (else ``comp``'s low ``rb`` bits are the row).

    Returns:
        The permutation and the sorted keys (``comp`` may be overwritten).
    """
    if not ties:
        comp.sort()
        return comp & ((1 << rb) - 1), comp
    m = len(comp)
    gb = _bits(nkf - 1)
    ordered = m < 2 or bool(np.all(group[1:] >= group[:-1]))
    by_kf = None if ordered else np.argsort(group, kind="stable")
    kf_start = np.zeros(nkf + 1, np.int64)
    np.cumsum(np.bincount(group, minlength=nkf), out=kf_start[1:])
    local = np.arange(m, dtype=np.int64)
    local -= kf_start[group if by_kf is None else group[by_kf]]
    lb = _bits(int(local.max(initial=0)))
    if int(comp.max(initial=0)).bit_length() + lb > 63:
        layout = np.argsort(comp)
        return layout, comp[layout]
    comp <<= lb
    if by_kf is None:
        comp |= local
    else:
        comp[by_kf] |= local
    del local
    comp.sort()
    layout = comp & ((1 << lb) - 1)
    layout += kf_start[(comp >> (lb + rb)) & ((1 << gb) - 1)]
    comp >>= lb
    return (layout if by_kf is None else by_kf[layout]), comp


def _match(
    gt: AVABoxes,
    g_rows: np.ndarray,
    g_group: np.ndarray,
    d_group: np.ndarray,
    boxes: tuple[np.ndarray, ...],
    box_of: np.ndarray,
    p: EvalProtocol,
    nkf: int,
) -> np.ndarray:
    """True-positive flag per detection (given in processing order): the best-IoU ground truth of
    its (keyframe, class) group, if IoU >= 0.5 and no earlier detection took that box.

    Args:
        gt: the ground-truth table.
        g_rows: ``gt`` rows that can be matched (ascending), with their group ``g_group``.
        d_group: group per detection (``class * nkf + keyframe``).
        boxes, box_of: x1, y1, x2, y2 columns; detection ``i``'s box is their row ``box_of[i]``.
        p: the protocol (the heap-ordered ones break IoU ties by the ground truth's heap).
        nkf: number of keyframes.
    """
    m = len(d_group)
    tp = np.zeros(m, bool)
    if not len(g_rows) or not m:
        return tp
    gorder = np.argsort(g_group, kind="stable")  # file order inside a group: argmax's first hit
    gs, grow = g_group[gorder], g_rows[gorder]
    gb = gt.box_columns(grow)
    # d_group ascending (the official order): each group looked up once
    if m > 1 and np.all(d_group[1:] >= d_group[:-1]):
        first = np.flatnonzero(np.concatenate([[True], d_group[1:] != d_group[:-1]]))
        runs = np.diff(np.append(first, m))
        lo = np.searchsorted(gs, d_group[first], "left")
        start = np.repeat(lo, runs)
        count = np.repeat(np.searchsorted(gs, d_group[first], "right") - lo, runs)
    else:
        start = np.searchsorted(gs, d_group, "left")
        count = np.searchsorted(gs, d_group, "right") - start
    best_iou = np.full(m, -np.inf)
    best = np.full(m, -1, np.int64)
    tied = np.zeros(m, bool)
    has = np.flatnonzero(count > 0)
    has_count = count[has]
    has_boxes = tuple(c[box_of[has]] for c in boxes)
    for j in range(int(count.max(initial=0))):
        at = np.flatnonzero(has_count > j)
        sel = has[at]
        g = start[sel] + j
        iou = _iou(tuple(c[at] for c in has_boxes), tuple(c[g] for c in gb))
        cur = best_iou[sel]
        better = iou > cur
        if p.heap_order:
            tied[sel[better]] = False
            tied[sel[iou == cur]] = True
        best_iou[sel[better]] = iou[better]
        best[sel[better]] = g[better]
    if p.heap_order:
        redo = np.flatnonzero(tied & (best_iou >= 0.5))
        if len(redo):
            best[redo] = _heap_first_best(
                gt,
                gs,
                grow,
                gb,
                start,
                count,
                redo,
                tuple(c[box_of[redo]] for c in boxes),
                best_iou,
                nkf,
            )
    hit = np.flatnonzero(best_iou >= 0.5)
    _, first = np.unique(best[hit], return_index=True)
    tp[hit[first]] = True
    return tp


def _heap_first_best(
    gt: AVABoxes,
    gs: np.ndarray,
    grow: np.ndarray,
    gb: tuple[np.ndarray, ...],
    start: np.ndarray,
    count: np.ndarray,
    redo: np.ndarray,
    boxes: tuple[np.ndarray, ...],
    best_iou: np.ndarray,
    nkf: int,
) -> np.ndarray:
    """For detections with several ground-truth boxes at the best IoU: the one first in the
    official ground-truth order of its keyframe (heap of ``(column 8, action_id, y1, x1, y2, x2)``
    over the keyframe's evaluated rows, then a stable sort by descending column 8).

    Args:
        gt: the ground-truth table.
        gs, grow, gb: ground-truth groups (sorted), their ``gt`` rows and box columns.
        start, count: each detection's slice of ``gs``.
        redo: the detections to settle.
        boxes: the box columns of the detections of ``redo``.
        best_iou: each detection's best IoU.
        nkf: number of keyframes.

    Returns:
        The chosen index into ``gs`` per detection of ``redo``.
    """
    kf = gs % nkf
    place: dict[int, int] = {}
    sel = np.flatnonzero(np.isin(kf, np.unique(kf[start[redo]])))
    sel = sel[np.argsort(kf[sel], kind="stable")]  # the keyframes' ground truth, one after another
    for part in np.split(grow[sel], np.flatnonzero(np.diff(kf[sel])) + 1):
        src = np.sort(part)
        items = _heap_items(gt, src)
        place.update(_positions(items, src, _replay_heap(items, 0)))
    out = np.empty(len(redo), np.int64)
    for i, d in enumerate(redo.tolist()):
        cand = np.arange(start[d], start[d] + count[d])
        iou = _iou(tuple(c[[i]].repeat(len(cand)) for c in boxes), tuple(c[cand] for c in gb))
        at_best = cand[iou == best_iou[d]]
        out[i] = min(at_best.tolist(), key=lambda g: place.get(int(grow[g]), len(place)))
    return out
