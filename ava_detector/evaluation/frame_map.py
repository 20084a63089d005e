"""AVA frame-level mAP@0.5IOU, vectorised with NumPy; no I/O.

Reproduces the official ActivityNet ``get_ava_performance.py`` (``official``) to floating-point
equality, and the evaluators users compare against, selected by ``protocol``:

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
behaviour on score ties at the 50th place included). Detection boxes with ``x2 <= x1`` or
``y2 <= y1`` are dropped after the cap. Each detection takes the ground-truth box of its class and
keyframe with the highest IoU (first in file order on ties); IoU >= 0.5 and that box not yet taken
-> true positive, otherwise false positive. AP is VOC "all points" over each class's detections
sorted by score; a class with ground truth but no detections has AP 0 (NaN under ``mmaction2``),
one without ground truth NaN. Scores tied across detections are ordered as the official script
orders small inputs (reversed stable ascending sort of its concatenation order); the official
script itself leaves that order to NumPy's unstable quicksort.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PROTOCOLS",
    "AVABoxes",
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


PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol("official", False, 50, True, True, False),
        EvalProtocol("activitynet-2019", True, 50, False, True, False),
        EvalProtocol("pyslowfast", True, 0, False, False, False),
        EvalProtocol("mmaction2", True, 0, False, True, True),
    )
}


def get_protocol(name: str | EvalProtocol) -> EvalProtocol:
    """Look up a protocol by name; ``ValueError`` lists the valid names."""
    if isinstance(name, EvalProtocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(f"unknown AVA evaluation protocol {name!r}; use one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]


@dataclass(frozen=True)
class AVABoxes:
    """Rows of an AVA CSV as columns, in file order.

    ``video`` holds codes into ``videos``; ``label`` 0 marks a keyframe row without a box (the
    2-column ``video_id,timestamp`` rows; also used for exclusion lists). Boxes are normalised
    XYXY, float64 (parsed as Python parses floats, so IoUs equal the official script's).
    """

    videos: tuple[str, ...]
    video: np.ndarray  # (N,) int32 codes into ``videos``
    time: np.ndarray  # (N,) float64 second as written
    boxes: np.ndarray  # (N, 4) float64 x1, y1, x2, y2 (NaN for label-0 rows)
    label: np.ndarray  # (N,) int64 action id, 0 = keyframe without box
    score: np.ndarray  # (N,) float64 (1.0 for ground truth)
    row: np.ndarray = field(default=None)  # (N,) int64 original row index (file order)

    def __post_init__(self):
        if self.row is None:
            object.__setattr__(self, "row", np.arange(len(self.video), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.video)

    def take(self, index: np.ndarray) -> AVABoxes:
        """Rows selected by a boolean mask or an index array (same vocabulary)."""
        return AVABoxes(self.videos, self.video[index], self.time[index], self.boxes[index],
                        self.label[index], self.score[index], self.row[index])

    def keyframes(self) -> AVABoxes:
        """One label-0 row per distinct (video, second), in first-appearance order."""
        if not len(self):
            return self
        pairs = np.stack([self.video.astype(np.float64), self.time], axis=1)
        _, first = np.unique(pairs, axis=0, return_index=True)
        first = np.sort(first)
        n = len(first)
        return AVABoxes(self.videos, self.video[first], self.time[first], np.full((n, 4), np.nan),
                        np.zeros(n, np.int64), np.ones(n), self.row[first])

    @staticmethod
    def from_rows(rows: Iterable[Sequence]) -> AVABoxes:
        """From ``(video, second[, x1, y1, x2, y2, action_id[, score]])`` tuples (tests, small inputs)."""
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
        return AVABoxes(videos, np.array([code[str(r[0])] for r in rows], np.int32),
                        np.array([float(r[1]) for r in rows], np.float64), boxes, label, score)

    @staticmethod
    def concatenate(parts: Sequence[AVABoxes], videos: tuple[str, ...]) -> AVABoxes:
        """Join parts that already share the vocabulary ``videos``."""
        if not parts:
            return AVABoxes(videos, np.zeros(0, np.int32), np.zeros(0), np.zeros((0, 4)),
                            np.zeros(0, np.int64), np.zeros(0))
        return AVABoxes(videos, *(np.concatenate([getattr(p, f) for p in parts])
                                  for f in ("video", "time", "boxes", "label", "score", "row")))


@dataclass(frozen=True)
class FrameMAPResult:
    """mAP and per-class AP (0-1 scale); NaN = class not counted in the mean."""

    mAP: float
    per_class: dict[int, float]
    num_groundtruth: dict[int, int]
    num_detections: dict[int, int]
    protocol: str


class _KeyEncoder:
    """Maps (video name, second) to int64 keys, consistently across tables and calls.

    Seconds are compared as numbers (``integer_seconds``: truncated first); codes come from the
    ``reference`` tables' seconds, and unseen seconds get new codes on the fly.
    """

    _STRIDE = 1 << 32

    def __init__(self, reference: Sequence[AVABoxes], integer_seconds: bool):
        self.integer_seconds = integer_seconds
        self.videos: dict[str, int] = {}
        self.extra: dict[float, int] = {}
        times = [self._seconds(t.time) for t in reference]
        self.times = np.unique(np.concatenate(times)) if times else np.zeros(0)
        for t in reference:
            self.encode(t)

    def _seconds(self, time: np.ndarray) -> np.ndarray:
        return np.trunc(time) if self.integer_seconds else time + 0.0  # -0.0 == 0.0

    def encode(self, t: AVABoxes) -> np.ndarray:
        remap = np.array([self.videos.setdefault(v, len(self.videos)) for v in t.videos] + [0],
                         np.int64)
        sec = self._seconds(t.time)
        tcode = np.minimum(np.searchsorted(self.times, sec), max(len(self.times) - 1, 0))
        unknown = np.flatnonzero((self.times[tcode] != sec) if len(self.times) else np.ones(len(sec), bool))
        if len(unknown):
            values, inverse = np.unique(sec[unknown], return_inverse=True)
            codes = np.array([self.extra.setdefault(v, len(self.times) + len(self.extra))
                              for v in values.tolist()], np.int64)
            tcode = tcode.astype(np.int64)
            tcode[unknown] = codes[inverse]
        return remap[t.video] * self._STRIDE + tcode


def _cap_mask(key: np.ndarray, score: np.ndarray, cap: int, exact: AVABoxes | None) -> np.ndarray:
    """Rows kept by the official per-keyframe heap of ``cap`` entries.

    Rows scoring above the ``cap``-th score of their keyframe are always kept, rows below never;
    only keyframes with ties at that score replay the heap on ``exact``'s rows. Without ``exact``
    all tied rows are kept: the exact selection applied later to that superset (in file order) gives the same rows,
    which lets a reader prune chunk by chunk.
    """
    n = len(key)
    keep = np.ones(n, bool)
    if cap <= 0 or n == 0:
        return keep
    order = np.argsort(key, kind="stable")
    skey = key[order]
    ends = np.r_[np.flatnonzero(skey[1:] != skey[:-1]), n - 1]
    sizes = np.diff(np.r_[-1, ends])
    if sizes.max() <= cap:
        return keep
    over = np.repeat(sizes > cap, sizes)
    order, group = order[over], np.repeat(np.arange(len(sizes)), sizes)[over]
    # Ascending score within each keyframe (tops at group ends); the order among equal scores
    # does not matter here, so an unstable sort then a stable (radix for small ints) one.
    by_score = np.argsort(score[order])
    order, group = order[by_score], group[by_score]
    if group.max() < 1 << 16:
        group = group.astype(np.uint16)
    order = order[np.argsort(group, kind="stable")]
    sizes = sizes[sizes > cap]
    ends = np.cumsum(sizes) - 1
    boundary = np.repeat(score[order][ends - cap + 1], sizes)
    candidate = score[order] >= boundary
    keep[order] = candidate
    if exact is not None:
        ncand = np.add.reduceat(candidate, np.r_[0, ends[:-1] + 1])
        for g in np.flatnonzero(ncand > cap):
            tied = np.sort(order[ends[g] - ncand[g] + 1:ends[g] + 1])  # candidates, file order
            keep[tied] = False
            keep[_replay_heap(exact, tied, cap)] = True
    return keep


def _replay_heap(det: AVABoxes, rows: np.ndarray, cap: int) -> list[int]:
    """The official ``read_csv`` heap on ``rows`` (file order): push, or replace the minimum if
    the new score is strictly larger."""
    heap: list[tuple] = []
    for r in rows.tolist():
        x1, y1, x2, y2 = det.boxes[r].tolist()
        item = (float(det.score[r]), int(det.label[r]), y1, x1, y2, x2, r)
        if len(heap) < cap:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    return [item[-1] for item in heap]


def prune_detections(detections: AVABoxes, ground_truth_keys: AVABoxes | None,
                     evaluated_ids: Iterable[int], excluded: AVABoxes | None,
                     protocol: str | EvalProtocol = "official") -> AVABoxes:
    """Drop detection rows that cannot affect ``frame_map`` (a superset of what it keeps).

    For readers of large files: applied per chunk, it bounds memory by the cap. ``ground_truth_keys``
    are the ground truth's keyframes (``AVABoxes.keyframes``); ``None`` skips the keyframe filter.
    Use ``DetectionPruner`` to reuse the key encoding over many chunks.
    """
    return DetectionPruner(ground_truth_keys, evaluated_ids, excluded, protocol)(detections)


class DetectionPruner:
    """``prune_detections`` with its keyframe sets encoded once, for chunked readers."""

    def __init__(self, ground_truth_keys: AVABoxes | None, evaluated_ids: Iterable[int],
                 excluded: AVABoxes | None, protocol: str | EvalProtocol = "official"):
        self.protocol = p = get_protocol(protocol)
        refs = [t for t in (ground_truth_keys, excluded) if t is not None]
        self.encoder = _KeyEncoder(refs, p.integer_seconds)
        self.ids = np.fromiter(evaluated_ids, np.int64)
        self.excluded = self.encoder.encode(excluded) if excluded is not None else None
        self.annotated = (self.encoder.encode(ground_truth_keys)
                          if p.ignore_unannotated and ground_truth_keys is not None else None)

    def __call__(self, detections: AVABoxes) -> AVABoxes:
        dkey = self.encoder.encode(detections)
        keep = np.isin(detections.label, self.ids)
        if self.excluded is not None and len(self.excluded):
            keep &= ~np.isin(dkey, self.excluded)
        if self.annotated is not None:
            keep &= np.isin(dkey, self.annotated)
        rows = np.flatnonzero(keep)
        capped = _cap_mask(dkey[rows], detections.score[rows], self.protocol.cap, None)
        return detections.take(rows[capped])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of XYXY boxes, in the official script's operation order (no +1 term)."""
    h = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    w = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    inter = h * w
    area_a = (a[:, 3] - a[:, 1]) * (a[:, 2] - a[:, 0])
    area_b = (b[:, 3] - b[:, 1]) * (b[:, 2] - b[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_a + area_b - inter)


def _average_precision(tp: np.ndarray, num_gt: int) -> float:
    """VOC all-points AP of true-positive flags sorted by descending score."""
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(~tp, dtype=np.float64)
    precision = cum_tp.astype(np.float64) / (cum_tp + cum_fp)
    recall = cum_tp.astype(np.float64) / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changed] - recall[changed - 1]) * precision[changed]))


def frame_map(ground_truth: AVABoxes, detections: AVABoxes, evaluated_ids: Iterable[int],
              excluded_keys: AVABoxes | None = None,
              protocol: str | EvalProtocol = "official") -> FrameMAPResult:
    """Frame-level AP@0.5IOU per evaluated class and their mean (0-1 scale).

    ``ground_truth``/``detections`` are the rows of the two CSVs (file order matters only where the
    official script's does); ``excluded_keys`` the exclusion list's keyframes.
    """
    p = get_protocol(protocol)
    ids = np.array(sorted(set(int(i) for i in evaluated_ids)), np.int64)
    tables = [ground_truth, detections] + ([excluded_keys] if excluded_keys is not None else [])
    enc = _KeyEncoder(tables, p.integer_seconds)
    gkey, dkey = enc.encode(ground_truth), enc.encode(detections)
    if excluded_keys is not None and len(excluded_keys):
        xkeys = enc.encode(excluded_keys)
        gin, din = ~np.isin(gkey, xkeys), ~np.isin(dkey, xkeys)
        ground_truth, gkey = ground_truth.take(gin), gkey[gin]
        detections, dkey = detections.take(din), dkey[din]
    annotated = np.unique(gkey)

    gsel = np.isin(ground_truth.label, ids)
    gt, gkey = ground_truth.take(gsel), gkey[gsel]
    dsel = np.isin(detections.label, ids)
    if p.ignore_unannotated:
        dsel &= np.isin(dkey, annotated)
    det, dkey = detections.take(dsel), dkey[dsel]
    capped = _cap_mask(dkey, det.score, p.cap, det)
    det, dkey = det.take(capped), dkey[capped]
    x1, y1, x2, y2 = det.boxes.T
    valid = (x2 > x1) & (y2 > y1)
    det, dkey = det.take(valid), dkey[valid]

    tp = _match(gt, gkey, det, dkey, p.score_order_matching)
    num_gt = np.bincount(gt.label, minlength=ids.max() + 1 if len(ids) else 1)

    # Per class, descending score; ties in the reverse of the official concatenation order
    # (keyframes by first appearance, then file order), as its reversed stable sort gives.
    uniq, inverse, first = _first_appearance(dkey, det.row)
    rank = first[inverse] * (int(det.row.max(initial=0)) + 1) + det.row
    order = np.lexsort((rank, det.score, det.label))
    labels_sorted = det.label[order]
    lo_hi = zip(np.searchsorted(labels_sorted, ids, "left"), np.searchsorted(labels_sorted, ids, "right"))

    per_class: dict[int, float] = {}
    num_det: dict[int, int] = {}
    ap = np.full(int(ids.max()) if len(ids) else 0, np.nan)
    for c, (lo, hi) in zip(ids.tolist(), lo_hi):
        num_det[c] = int(hi - lo)
        if num_gt[c] == 0 or (p.mean_over_detected and hi == lo):
            per_class[c] = float("nan")
            continue
        per_class[c] = ap[c - 1] = _average_precision(tp[order[lo:hi][::-1]], int(num_gt[c]))
    mean = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return FrameMAPResult(mean, per_class, {c: int(num_gt[c]) for c in ids.tolist()}, num_det, p.name)


def _first_appearance(key: np.ndarray, row: np.ndarray):
    """Unique keys, the inverse index, and each key's first row."""
    uniq, inverse = np.unique(key, return_inverse=True)
    first = np.full(len(uniq), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, row)
    return uniq, inverse, first


def _match(gt: AVABoxes, gkey: np.ndarray, det: AVABoxes, dkey: np.ndarray,
           score_order: bool) -> np.ndarray:
    """True-positive flag per detection: best-IoU GT of its (keyframe, class), if IoU >= 0.5 and
    no earlier detection (in processing order) took that GT."""
    n_lab = int(max(gt.label.max(initial=0), det.label.max(initial=0))) + 1
    ggroup = gkey * n_lab + gt.label
    dgroup = dkey * n_lab + det.label
    gorder = np.argsort(ggroup, kind="stable")  # file order inside a group: argmax's first hit
    gsorted = ggroup[gorder]
    start = np.searchsorted(gsorted, dgroup, "left")
    count = np.searchsorted(gsorted, dgroup, "right") - start
    best_iou = np.full(len(det), -np.inf)
    best_gt = np.full(len(det), -1, np.int64)
    has = np.flatnonzero(count > 0)
    for j in range(int(count.max(initial=0))):
        sel = has[count[has] > j]
        g = gorder[start[sel] + j]
        iou = _iou(det.boxes[sel], gt.boxes[g])
        better = iou > best_iou[sel]
        best_iou[sel[better]] = iou[better]
        best_gt[sel[better]] = g[better]
    hit = np.flatnonzero(best_iou >= 0.5)
    order = np.lexsort((det.row[hit], -det.score[hit])) if score_order else np.argsort(det.row[hit])
    hit = hit[order]
    _, first = np.unique(best_gt[hit], return_index=True)
    tp = np.zeros(len(det), bool)
    tp[hit[first]] = True
    return tp
