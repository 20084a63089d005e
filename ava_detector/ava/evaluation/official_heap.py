"""The official heap (its ``read_csv``), replayed on the few keyframes where its layout matters,
and the per-keyframe cap it implies.
"""

from __future__ import annotations

import heapq

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes


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
