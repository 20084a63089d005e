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
  ranked with ``numpy.argsort``'s default, unstable sort, reversed. ``frame_map`` builds that same
  array (``official_order``) and calls the same sort, so the result equals the official script's run
  with the same NumPy on the same CPU. NumPy picks its sort kernel by CPU (AVX-512, AVX2 or none),
  and with tied scores the kernels order them differently: the official script itself then gives
  different APs on different machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.keyframe_keys import _class_index, _columns, _runs_of
from ava_detector.ava.evaluation.matching import _match
from ava_detector.ava.evaluation.official_heap import _cap_keep
from ava_detector.ava.evaluation.official_order import _layout
from ava_detector.ava.evaluation.protocols import EvalProtocol, get_protocol

__all__ = ["FrameMAPResult", "frame_map"]


@dataclass(frozen=True)
class FrameMAPResult:
    """mAP and per-class AP (0-1 scale); NaN = class not counted in the mean."""

    mAP: float
    per_class: dict[int, float]
    num_groundtruth: dict[int, int]
    num_detections: dict[int, int]
    protocol: str


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
