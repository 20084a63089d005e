"""Matching detections to ground truth: each detection's best-IoU ground-truth box of its (class,
keyframe) group, IoU ties settled in the official ground-truth heap's order.
"""

from __future__ import annotations

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.official_heap import _heap_items, _positions, _replay_heap
from ava_detector.ava.evaluation.protocols import EvalProtocol


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
