"""The official order of the kept detections: by class, keyframe (first appearance), then the
keyframe's own order, from one sort of 64-bit keys with exact tie-breaking where they merge.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.official_heap import (
    _float32_key,
    _heap_items,
    _positions,
    _replay_heap,
)
from ava_detector.ava.evaluation.protocols import EvalProtocol


def _bits(n: int) -> int:
    """Bits that hold 0..n (at least one).

    Args:
        n: the largest value.
    """
    return max(int(n).bit_length(), 1)


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
