"""Parsed AVA tables -> one record per keyframe (the ``DatasetCatalog`` format of docs/interfaces.md).

Ground-truth rows of one box (same video, second and coordinates) merge into one box with a multi-hot
label (uint8) over the action ids; every detector proposal of the keyframe is kept too (``is_gt=False``,
labelled from the ground-truth box it overlaps most if IoU >= ``gt_iou``). Which boxes a split uses is
decided later by :func:`ava_detector.ava.data.split_records.select_boxes`. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ava_detector.ava.data.timestamps import (
    format_second,
    second_value,
)
from ava_detector.data.errors import InputFileError

__all__ = [
    "pairwise_iou",
    "label_proposals",
    "label_proposals_grouped",
    "merge_gt_boxes",
    "build_records",
]

_BOX_COLS = ["x1", "y1", "x2", "y2"]
_MS = 1_000_000  # key units per second: microseconds, exact for timestamps written with 6 decimals


def _key_units(sec: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(sec, dtype=np.float64) * _MS).astype(np.int64)


def pairwise_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of XYXY boxes (continuous areas, no +1 pixel term)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def label_proposals(
    gt_boxes: np.ndarray, gt_labels: np.ndarray, boxes: np.ndarray, iou_thresh: float
) -> np.ndarray:
    """Each proposal takes the labels of the GT box it overlaps most when IoU >= ``iou_thresh``,
    else all zeros (a negative). Returns float32 (len(boxes), num_classes)."""
    labels = np.zeros((len(boxes), gt_labels.shape[1]), dtype=np.float32)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return labels
    iou = pairwise_iou(boxes, gt_boxes)
    best = iou.argmax(axis=1)
    hit = iou[np.arange(len(boxes)), best] >= iou_thresh
    labels[hit] = gt_labels[best[hit]]
    return labels


def label_proposals_grouped(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    gt_group: np.ndarray,
    boxes: np.ndarray,
    box_group: np.ndarray,
    iou_thresh: float,
) -> np.ndarray:
    """:func:`label_proposals` for many keyframes at once: proposal ``i`` is matched only against the
    GT boxes of its own group (keyframe), vectorised over all (proposal, GT box) pairs of a group.

    Args:
        gt_boxes: float (G, 4) XYXY; gt_labels: (G, C) multi-hot; gt_group: int (G,) sorted.
        boxes: float (P, 4) XYXY; box_group: int (P,) the group of each proposal.
        iou_thresh: the IoU from which a proposal takes its best GT box's labels.

    Returns:
        (P, C) labels of ``gt_labels``' dtype; ties go to the GT box that comes first.
    """
    labels = np.zeros((len(boxes), gt_labels.shape[1]), dtype=gt_labels.dtype)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return labels
    gt_group = np.asarray(gt_group, dtype=np.int64)
    box_group = np.asarray(box_group, dtype=np.int64)
    first = np.searchsorted(gt_group, box_group, side="left")
    count = np.searchsorted(gt_group, box_group, side="right") - first
    pair_box = np.repeat(np.arange(len(boxes)), count)
    if len(pair_box) == 0:
        return labels
    within = np.arange(len(pair_box)) - np.repeat(np.cumsum(count) - count, count)
    pair_gt = np.repeat(first, count) + within
    a = np.asarray(boxes, dtype=np.float64)[pair_box]
    b = np.asarray(gt_boxes, dtype=np.float64)[pair_gt]
    inter = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None).prod(
        1
    )
    union = (
        np.clip(a[:, 2:] - a[:, :2], 0, None).prod(1)
        + np.clip(b[:, 2:] - b[:, :2], 0, None).prod(1)
        - inter
    )
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    # Best pair per proposal: pairs are grouped by proposal in GT order, so the first maximum wins.
    order = np.lexsort((-iou, pair_box))
    starts = np.flatnonzero(np.r_[True, pair_box[order][1:] != pair_box[order][:-1]])
    best = order[starts]
    hit = iou[best] >= iou_thresh
    labels[pair_box[best[hit]]] = np.asarray(gt_labels)[pair_gt[best[hit]]]
    return labels


def merge_gt_boxes(
    gt: pd.DataFrame, num_classes: int = 80, dtype: npt.DTypeLike = np.float32
) -> tuple[pd.DataFrame, np.ndarray]:
    """Merge the rows of one box into one: (boxes table ``video_id, sec, x1..y2, line``, multi-hot
    (B, num_classes) of ``dtype`` at index ``action_id - 1``). Empty-keyframe rows give no box."""
    rows = gt[gt["action_id"] > 0]
    keys = ["video_id", "sec", *_BOX_COLS]
    box_index = rows.groupby(keys, sort=False).ngroup().to_numpy()
    n_boxes = int(box_index.max()) + 1 if len(rows) else 0
    labels = np.zeros((n_boxes, num_classes), dtype=dtype)
    labels[box_index, rows["action_id"].to_numpy() - 1] = 1
    first = pd.Series(np.arange(len(rows))).groupby(box_index, sort=True).first().to_numpy()
    boxes = rows.iloc[first][[*keys, "line"]].reset_index(drop=True)
    return boxes, labels


def build_records(
    gt: pd.DataFrame,
    proposals: pd.DataFrame | None,
    *,
    fps: float,
    start_sec: float,
    frames: Mapping[str, Sequence[str]] | None = None,
    video_paths: Mapping[str, str] | None = None,
    gt_path: str | Path = "<annotations>",
    proposals_path: str | Path = "<proposals>",
    num_classes: int = 80,
    gt_iou: float = 0.9,
    height: int = 0,
    width: int = 0,
    lenient: bool = False,
) -> tuple[list[dict], list[str]]:
    """Records (one per keyframe of the GT or proposals tables, sorted by video then second) and the
    problems of keyframes skipped in lenient mode.

    ``frames`` maps a video to its absolute frame paths in timeline order (a list, or a
    :class:`~ava_detector.ava.data.frame_table.VideoFrames` handle: the same object goes into every
    record of the video); ``video_paths`` to its video file. A keyframe whose video has neither, or
    whose frame index falls outside the video's frames, raises :class:`InputFileError` naming the CSV
    line (lenient: skipped and reported). Proposals are labelled here, once (``gt_iou``).

    The records' arrays are views into a few arrays shared by all records (pickling one copies only
    its rows); ``labels`` are uint8 multi-hot.
    """
    frames = frames or {}
    video_paths = video_paths or {}
    boxes, gt_labels = merge_gt_boxes(gt, num_classes, dtype=np.uint8)
    proposals = (
        proposals
        if proposals is not None
        else pd.DataFrame(
            {"video_id": [], "sec": [], **{c: [] for c in _BOX_COLS}, "score": [], "line": []}
        )
    )
    n_gt_rows = len(gt)
    video_col = pd.concat([gt["video_id"], proposals["video_id"]], ignore_index=True).astype(str)
    # Keyframes are keyed in microseconds (whole seconds for AVA; 902.5 for 2 keyframes a second).
    sec_col = _key_units(np.concatenate([gt["sec"].to_numpy(), proposals["sec"].to_numpy()]))
    line_col = np.concatenate([gt["line"].to_numpy(), proposals["line"].to_numpy()]).astype(
        np.int64
    )
    vid_code, vid_names = pd.factorize(video_col, sort=True)
    sec_base = int(sec_col.min()) if len(sec_col) else 0
    sec_span = int(sec_col.max()) - sec_base + 1 if len(sec_col) else 1
    row_key = vid_code.astype(np.int64) * sec_span + (sec_col - sec_base)
    kf_keys, kf_first, row_kf = np.unique(row_key, return_index=True, return_inverse=True)
    n_kf = len(kf_keys)
    kf_vid = kf_keys // sec_span
    kf_sec = kf_keys % sec_span + sec_base
    kf_line = line_col[kf_first]
    kf_in_gt = kf_first < n_gt_rows
    kf_index = np.round((kf_sec / _MS - start_sec) * fps).astype(np.int64)

    # Which keyframes can be read (vectorised over videos, then keyframes).
    names = [str(v) for v in vid_names]
    vframes = [frames.get(v) for v in names]
    vpaths = [video_paths.get(v) for v in names]
    n_frames = np.array([-1 if f is None else len(f) for f in vframes], dtype=np.int64)
    no_media = np.array([f is None and p is None for f, p in zip(vframes, vpaths)], dtype=bool)
    kf_nf = n_frames[kf_vid] if n_kf else np.zeros(0, np.int64)
    bad = no_media[kf_vid] | (kf_index < 0) | ((kf_nf >= 0) & (kf_index >= kf_nf))
    skipped: list[str] = []
    for k in np.flatnonzero(bad).tolist():
        vid, sec = names[kf_vid[k]], second_value(kf_sec[k] / _MS)
        file = str(gt_path) if kf_in_gt[k] else str(proposals_path)
        if no_media[kf_vid[k]]:
            problem = f"video {vid!r} has neither frames in the frame list nor a video file"
        else:
            n = "?" if kf_nf[k] < 0 else int(kf_nf[k])
            problem = (
                f"second {sec:g} of video {vid!r} is frame {int(kf_index[k])}, outside its {n} "
                f"frames (start_sec={start_sec:g}, fps={fps:g})"
            )
        if not lenient:
            raise InputFileError(file, int(kf_line[k]), problem)
        skipped.append(f"{file}:{int(kf_line[k])}: {problem}")

    # Every box of every keyframe in one table: a keyframe's GT boxes first, then its proposals.
    def kf_of(table: pd.DataFrame) -> np.ndarray:
        codes = pd.Index(vid_names).get_indexer(table["video_id"].astype(str))
        key = codes.astype(np.int64) * sec_span + (_key_units(table["sec"].to_numpy()) - sec_base)
        return np.searchsorted(kf_keys, key)

    g_kf, p_kf = kf_of(boxes), row_kf[n_gt_rows:]
    g_order = np.argsort(g_kf, kind="stable")
    g_kf, g_xyxy, gt_labels = (
        g_kf[g_order],
        boxes[_BOX_COLS].to_numpy(np.float32)[g_order],
        gt_labels[g_order],
    )
    p_xyxy = proposals[_BOX_COLS].to_numpy(dtype=np.float32)
    p_labels = label_proposals_grouped(g_xyxy, gt_labels, g_kf, p_xyxy, p_kf, gt_iou)
    box_kf = np.concatenate([g_kf, p_kf])
    order = np.argsort(box_kf, kind="stable")  # GT rows come first in the concatenation
    all_boxes = np.concatenate([g_xyxy, p_xyxy]).reshape(-1, 4)[order]
    all_labels = np.concatenate([gt_labels, p_labels]).reshape(-1, num_classes)[order]
    all_scores = np.concatenate(
        [np.ones(len(g_kf), np.float32), proposals["score"].to_numpy(np.float32)]
    )[order]
    all_is_gt = np.concatenate([np.ones(len(g_kf), bool), np.zeros(len(p_kf), bool)])[order]
    bounds = np.searchsorted(box_kf[order], np.arange(n_kf + 1)).tolist()

    fps, start_sec = float(fps), float(start_sec)
    height, width = int(height), int(width)
    records: list[dict] = []
    for k in np.flatnonzero(~bad).tolist():
        v = int(kf_vid[k])
        vid, sec = names[v], second_value(kf_sec[k] / _MS)
        s, e = bounds[k], bounds[k + 1]
        record: dict[str, Any] = {
            "video_id": vid,
            "sec": sec,
            "image_id": f"{vid},{format_second(sec)}",
            "fps": fps,
            "start_sec": start_sec,
            "keyframe_index": int(kf_index[k]),
            "source": "frames" if vframes[v] is not None else "video",
            "height": height,
            "width": width,
            "boxes": all_boxes[s:e],
            "labels": all_labels[s:e],
            "scores": all_scores[s:e],
            "is_gt": all_is_gt[s:e],
        }
        if vframes[v] is not None:
            record["frames"] = vframes[v]
        if vpaths[v] is not None:
            record["video_path"] = vpaths[v]
        records.append(record)
    return records, skipped
