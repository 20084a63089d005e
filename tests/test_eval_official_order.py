"""Equal scores: frame_map orders them as the official script does (its per-keyframe heap, its
ground-truth order, NumPy's default argsort of each class's concatenation). Hand-computed cases,
checked against the official script when they were written, and a plain-Python model of the
official steps on random inputs full of ties.

NumPy's default sort kernel depends on the CPU (AVX-512, AVX2, none), so where two equal scores meet
in the final ranking the hand-computed values are stated for either order the kernel gives."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.frame_map import frame_map

IDS = [1, 2, 3]
G = (0.1, 0.1, 0.5, 0.5)
FAR = (0.6, 0.6, 0.9, 0.9)


def _map(gt, det, protocol="official"):
    return frame_map(AVABoxes.from_rows(gt), AVABoxes.from_rows(det), IDS, None, protocol)


def _two_equal_scores_ranked_in_order() -> bool:
    """Whether NumPy's default argsort of two equal values keeps them in order (then the official
    ranking, its reverse, puts the second first). The kernel depends on the CPU."""
    return np.argsort(np.array([0.5, 0.5])).tolist() == [0, 1]


def test_equal_scores_in_a_keyframe_keep_their_heap_order():
    # Both score 0.5; the file lists the miss first. The heap holds (score, id, y1, x1, y2, x2)
    # tuples, so the match (y1 = 0.1 < 0.6) sits first and is matched first: class array
    # [TP, FP]. Ranked by argsort reversed (if it keeps equal values in order): FP, TP ->
    # precision 1/2 at recall 1.
    gt = [("v", 902, *G, 1, 0)]
    det = [("v", 902, *FAR, 1, 0.5), ("v", 902, *G, 1, 0.5)]
    in_order = _two_equal_scores_ranked_in_order()
    assert _map(gt, det).per_class[1] == (0.5 if in_order else 1.0)
    # File order (PySlowFast, MMAction2): [FP, TP], the other way round.
    assert _map(gt, det, "pyslowfast").per_class[1] == (1.0 if in_order else 0.5)
    assert _map(gt, det, "mmaction2").per_class[1] == (1.0 if in_order else 0.5)


@pytest.mark.parametrize("person_ids,expected", [((0, 1), 1.0), ((1, 0), 0.5)])
def test_iou_tie_goes_to_the_box_first_in_the_official_ground_truth_order(person_ids, expected):
    # The detection at 0.9 overlaps both boxes with IoU 0.1875 / 0.3125 = 0.6 exactly. The official
    # ground truth of a keyframe is sorted by column 8 (the person id, read as a score),
    # descending: the box with the larger id is first and taken. The 0.8 detection is the left box:
    # TP if the right box was taken (AP 1), else FP (AP 1/2).
    left, right = (0.0, 0.0, 0.5, 0.5), (0.25, 0.0, 0.75, 0.5)
    gt = [("v", 902, *left, 1, person_ids[0]), ("v", 902, *right, 1, person_ids[1])]
    det = [("v", 902, 0.125, 0.0, 0.625, 0.5, 1, 0.9), ("v", 902, *left, 1, 0.8)]
    assert _map(gt, det).per_class[1] == expected


def test_equal_scores_across_keyframes_rank_by_the_concatenation():
    # Class array: 902 (FP) then 903 (TP), both 0.5 (keyframes in order of first appearance).
    # Argsort reversed (keeping equal values in order): TP, FP -> AP 1; listing 903 first in the
    # file swaps the keyframes -> 1/2.
    in_order = _two_equal_scores_ranked_in_order()
    gt = [("v", 903, *G, 1, 0), ("v", 902)]
    det = [("v", 902, *G, 1, 0.5), ("v", 903, *G, 1, 0.5)]
    assert _map(gt, det).per_class[1] == (1.0 if in_order else 0.5)
    assert _map(gt, det[::-1]).per_class[1] == (0.5 if in_order else 1.0)


# --------------------------------------------------------------------------------------------------
# A plain-Python model of the official steps (dicts of lists, heapq, per-class lists).


def _iou(d, g):
    # entries are (score, id, y1, x1, y2, x2)
    h = max(0.0, min(d[4], g[4]) - max(d[2], g[2]))
    w = max(0.0, min(d[5], g[5]) - max(d[3], g[3]))
    inter = h * w
    return inter / ((d[4] - d[2]) * (d[5] - d[3]) + (g[4] - g[2]) * (g[5] - g[3]) - inter)


def _model(gt_rows, det_rows, ids, cap, integer_seconds, ignore_unannotated):
    def key(r):
        return (r[0], int(r[1]) if integer_seconds else float(r[1]))

    def entry(r):
        score = float(r[7]) if len(r) == 8 else 1.0
        return (score, int(r[6]), float(r[3]), float(r[2]), float(r[5]), float(r[4]))

    annotated = {key(r) for r in gt_rows}
    gt: dict = {}
    for r in gt_rows:
        if len(r) >= 7 and r[6] in ids:
            heapq.heappush(gt.setdefault(key(r), []), entry(r))
    num_gt = {c: sum(1 for h in gt.values() for e in h if e[1] == c) for c in ids}
    heaps: dict = {}
    for r in det_rows:
        if r[6] not in ids:
            continue
        h = heaps.setdefault(key(r), [])
        e = entry(r)
        if cap < 1 or len(h) < cap:
            heapq.heappush(h, e)
        elif e[0] > h[0][0]:
            heapq.heapreplace(h, e)
    scores = {c: [] for c in ids}
    tps = {c: [] for c in ids}
    for k, h in heaps.items():
        if ignore_unannotated and k not in annotated:
            continue
        boxes = [e for e in sorted(h, key=lambda e: -e[0]) if e[2] < e[4] and e[3] < e[5]]
        truth = sorted(gt.get(k, []), key=lambda e: -e[0])
        for c in ids:
            g = [e for e in truth if e[1] == c]
            taken = [False] * len(g)
            for d in (e for e in boxes if e[1] == c):
                hit = False
                if g:
                    ious = [_iou(d, x) for x in g]
                    j = ious.index(max(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        taken[j] = hit = True
                scores[c].append(d[0])
                tps[c].append(hit)
    ap = np.full(max(ids), np.nan)
    for c in ids:
        if not num_gt[c]:
            continue
        order = np.argsort(np.array(scores[c], dtype=float))[::-1]
        tp = np.array(tps[c], dtype=int)[order]
        cum_tp, cum_fp = np.cumsum(tp), np.cumsum(1 - tp)
        precision = np.concatenate([[0], cum_tp / (cum_tp + cum_fp), [0]]).astype(float)
        recall = np.concatenate([[0], cum_tp / num_gt[c], [1]]).astype(float)
        for i in range(len(precision) - 2, -1, -1):
            precision[i] = max(precision[i], precision[i + 1])
        at = np.where(recall[1:] != recall[:-1])[0] + 1
        ap[c - 1] = np.sum((recall[at] - recall[at - 1]) * precision[at])
    return ap


# Boxes that match each other exactly, half-overlap (IoU 0.6 with both of the first two: an IoU tie
# between ground-truth boxes), miss, or are invalid (x2 = x1).
_BOXES = [
    (0.0, 0.0, 0.5, 0.5),
    (0.25, 0.0, 0.75, 0.5),
    (0.125, 0.0, 0.625, 0.5),
    (0.5, 0.5, 1.0, 1.0),
    (0.5, 0.5, 0.5, 0.75),
]
_det = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from([902, 902, 902, 903, 904]),
    st.sampled_from(_BOXES),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from([0.25, 0.5, 0.75, 1.0]),
)
_gt = st.tuples(
    st.sampled_from(["a", "b"]),
    st.sampled_from([902, 903]),
    st.sampled_from(_BOXES[:4]),
    st.sampled_from([1, 2, 3]),
    st.integers(0, 3),
)


@pytest.mark.parametrize(
    "protocol,cap,integer_seconds,ignore",
    [("official", 50, False, True), ("activitynet-2019", 50, True, False)],
)
@settings(max_examples=40, deadline=None)
@given(gt=st.lists(_gt, min_size=1, max_size=10), det=st.lists(_det, min_size=1, max_size=160))
def test_equals_a_model_of_the_official_steps(protocol, cap, integer_seconds, ignore, gt, det):
    # Four scores only: classes get dozens of equal scores (beyond NumPy's insertion-sort size)
    # and keyframes more than 50 rows, so the cap's tie rule and the heap order are exercised.
    gt_rows = [(v, s, *b, c, pid) for v, s, b, c, pid in gt]
    det_rows = [(v, s, *b, c, score) for v, s, b, c, score in det]
    expected = _model(gt_rows, det_rows, IDS, cap, integer_seconds, ignore)
    r = _map(gt_rows, det_rows, protocol)
    for c in IDS:
        want = expected[c - 1]
        assert (math.isnan(want) and math.isnan(r.per_class[c])) or r.per_class[c] == want, c
    want_map = np.nanmean(expected) if np.isfinite(expected).any() else float("nan")
    assert (math.isnan(want_map) and math.isnan(r.mAP)) or r.mAP == want_map
