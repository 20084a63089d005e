"""Per-action score thresholds: calibrated on a validation split (best F1 per action), saved as JSON.

Detections are matched to ground-truth boxes of the same keyframe (greedy by IoU, >= ``min_iou``,
each ground-truth box at most once per detection box); a matched detection box is a positive of
every action its ground-truth box has. Per action, the threshold is the score that maximises F1 =
2PR / (P + R) with recall over all ground-truth (box, action) pairs, so missed boxes count
against every threshold. Actions without ground truth keep ``default``. The JSON (``thresholds.json``
next to the model by default) maps action ids to thresholds; :func:`load_thresholds` reads it as a
``(C,)`` array for the demo and the tracks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_io import (
    read_ava_csv,
)
from ava_detector.data.errors import InputFileError
from ava_detector.utils.atomic_files import atomic_output

__all__ = [
    "THRESHOLDS_FILE",
    "best_f1_threshold",
    "calibrate_from_csv",
    "calibrate_thresholds",
    "load_thresholds",
    "match_detections",
    "save_thresholds",
]

#: The file name next to the model weights.
THRESHOLDS_FILE = "thresholds.json"


def best_f1_threshold(
    scores: np.ndarray, positive: np.ndarray, total_positives: int
) -> tuple[float, float]:
    """``(threshold, F1)`` maximising F1 when every score >= threshold is predicted positive.

    Args:
        scores: ``(N,)`` detection scores of one action.
        positive: ``(N,)`` bool, whether each detection is a true positive.
        total_positives: ground-truth positives (recall's denominator, >= positive.sum()).
    """
    if total_positives <= 0 or len(scores) == 0:
        return float("nan"), 0.0
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    s, tp = np.asarray(scores, np.float64)[order], np.cumsum(np.asarray(positive, bool)[order])
    last = np.r_[s[1:] != s[:-1], True]  # a threshold keeps every detection of equal score
    k = np.arange(1, len(s) + 1)[last]
    tp = tp[last]
    f1 = 2 * tp / (k + total_positives)
    best = int(np.argmax(f1))
    return float(s[last][best]), float(f1[best])


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def _distinct_boxes(
    t: AVABoxes, num_classes: int, videos: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frame keys (B, 2) [video, time], boxes (B, 4), values (B, C))`` of the distinct boxes of a
    table (rows with a box and an action id in 1..C); values: the rows' scores per action."""
    keep = (t.label >= 1) & (t.label <= num_classes) & np.isfinite(t.boxes).all(axis=1)
    codes = np.array([videos.setdefault(v, len(videos)) for v in t.videos], np.float64)
    rows = np.column_stack(
        [
            codes[t.video[keep]] if len(t.videos) else np.zeros(keep.sum()),
            t.time[keep],
            np.round(t.boxes[keep], 6),
        ]
    )
    if not len(rows):
        return np.zeros((0, 2)), np.zeros((0, 4)), np.zeros((0, num_classes))
    keys, inverse = np.unique(rows, axis=0, return_inverse=True)
    values = np.zeros((len(keys), num_classes))
    values[inverse.reshape(-1), t.label[keep] - 1] = t.score[keep]
    return keys[:, :2], keys[:, 2:], values


def match_detections(
    det: AVABoxes, gt: AVABoxes, num_classes: int, min_iou: float = 0.5, progress: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores (M, C), labels (M, C) bool, positives per action (C,))`` over the M distinct
    detection boxes: each box's score per action and whether its matched ground-truth box has it.

    Args:
        det: detections (one row per box and action).
        gt: ground truth (one row per box and action).
        num_classes: C (action ids 1..C).
        min_iou: the least IoU of a match.
        progress: show a progress bar over keyframes.
    """
    videos: dict[str, int] = {}
    dkeys, dboxes, scores = _distinct_boxes(det, num_classes, videos)
    # ground truth's column 8 is the person id (maybe 0): an action's presence is what counts
    ones = AVABoxes(gt.videos, gt.video, gt.time, gt.boxes, gt.label, np.ones(len(gt)))
    gkeys, gboxes, present = _distinct_boxes(ones, num_classes, videos)
    glabels = present > 0
    positives = glabels.sum(axis=0).astype(np.int64)
    labels = np.zeros(scores.shape, bool)
    gt_frames: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(map(tuple, gkeys)):
        gt_frames.setdefault(key, []).append(i)
    starts: np.ndarray | list[int] = (
        np.flatnonzero(np.r_[True, (np.diff(dkeys, axis=0) != 0).any(axis=1)]) if len(dkeys) else []
    )
    bounds = list(zip(starts, list(starts[1:]) + [len(dkeys)]))
    for a, b in tqdm(bounds, desc="matching keyframes", unit="keyframe", disable=not progress):
        g = gt_frames.get(tuple(dkeys[a]))
        if not g:
            continue
        iou = _iou(dboxes[a:b], gboxes[g])
        used_d, used_g = set(), set()
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            i, j = divmod(int(flat), len(g))
            if iou[i, j] < min_iou:
                break
            if i not in used_d and j not in used_g:
                used_d.add(i)
                used_g.add(j)
                labels[a + i] = glabels[g[j]]
    return scores, labels, positives


def calibrate_thresholds(
    scores: np.ndarray, labels: np.ndarray, positives: np.ndarray, default: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds (C,), best F1 (C,))``; actions without ground truth get ``default`` (F1 nan).

    Args:
        scores: ``(M, C)`` detection box scores.
        labels: ``(M, C)`` whether each is a true positive.
        positives: ``(C,)`` ground-truth positives per action.
        default: the threshold of actions that cannot be calibrated.
    """
    C = len(positives)
    thr, f1 = np.full(C, float(default)), np.full(C, np.nan)
    for c in range(C):
        if positives[c] > 0:
            t, f = best_f1_threshold(scores[:, c], labels[:, c], int(positives[c]))
            f1[c] = f
            if np.isfinite(t):
                thr[c] = t
    return thr, f1


def calibrate_from_csv(
    detections: str | Path,
    groundtruth: str | Path,
    num_classes: int = 80,
    default: float = 0.5,
    min_iou: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`calibrate_thresholds` of a detections CSV against a ground-truth CSV.

    Args:
        detections: AVA detections CSV (e.g. the demo's or the evaluation's on the validation split).
        groundtruth: the split's AVA ground-truth CSV.
        num_classes: C.
        default: the threshold of actions without ground truth.
        min_iou: the least IoU of a match.
    """
    det = read_ava_csv(detections, "detections")
    gt = read_ava_csv(groundtruth, "groundtruth")
    if not len(det):
        raise InputFileError(detections, None, "no detections to calibrate on")
    return calibrate_thresholds(
        *match_detections(det, gt, num_classes, min_iou, progress=True), default=default
    )


def save_thresholds(
    path: str | Path,
    thresholds: np.ndarray,
    f1: np.ndarray | None = None,
    names: Mapping[int, str] | None = None,
    source: str = "",
) -> Path:
    """``{"thresholds": {id: t}, "f1": {id: f}, "names": {...}, "source": ...}``, atomically.

    Args:
        path: the JSON file.
        thresholds: ``(C,)`` per-action thresholds (ids 1..C).
        f1: ``(C,)`` the validation F1 at each threshold (nan: not calibrated).
        names: action names to include.
        source: how they were calibrated (files).
    """
    payload = {
        "thresholds": {str(i + 1): round(float(t), 6) for i, t in enumerate(thresholds)},
        "f1": {
            str(i + 1): (None if f is None or not np.isfinite(f) else round(float(f), 6))
            for i, f in enumerate(f1 if f1 is not None else [None] * len(thresholds))
        },
        "source": source,
    }
    if names:
        payload["names"] = {str(k): v for k, v in sorted(names.items())}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
    return Path(path)


def load_thresholds(path: str | Path, num_classes: int = 80, default: float = 0.0) -> np.ndarray:
    """``(num_classes,)`` thresholds from a :func:`save_thresholds` JSON (missing ids: ``default``).

    Args:
        path: the JSON file.
        num_classes: C.
        default: the threshold of ids the file does not list.

    Raises:
        InputFileError: an unreadable file or bad values, naming the file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        items = data["thresholds"].items()
        out = np.full(num_classes, float(default))
        for k, v in items:
            i = int(k)
            if not 1 <= i <= num_classes:
                raise ValueError(f"action id {k} outside 1..{num_classes}")
            out[i - 1] = float(v)
    except FileNotFoundError:
        raise InputFileError(path, None, "thresholds file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise InputFileError(path, None, f"not a thresholds JSON ({err})") from None
    if not np.isfinite(out).all():
        raise InputFileError(path, None, "thresholds must be finite numbers")
    return out
