"""Parsed AVA tables -> one record per keyframe (the ``DatasetCatalog`` format of docs/interfaces.md).

Ground-truth rows of one box (same video, second and coordinates) merge into one box with a multi-hot
label over the action ids; every detector proposal of the keyframe is kept too (``is_gt=False``,
labelled from the ground-truth box it overlaps most if IoU >= ``gt_iou``). Which boxes a split uses is
decided later by :func:`ava_detector.data.ava.boxes.select_boxes`. Everything here is pure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AVAFormatError

__all__ = ["pairwise_iou", "label_proposals", "merge_gt_boxes", "build_records"]

_BOX_COLS = ["x1", "y1", "x2", "y2"]


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def merge_gt_boxes(gt: pd.DataFrame, num_classes: int = 80) -> tuple[pd.DataFrame, np.ndarray]:
    """Merge the rows of one box into one: (boxes table ``video_id, sec, x1..y2, line``, multi-hot
    float32 (B, num_classes) at index ``action_id - 1``). Empty-keyframe rows give no box."""
    rows = gt[gt["action_id"] > 0]
    keys = ["video_id", "sec", *_BOX_COLS]
    box_index = rows.groupby(keys, sort=False).ngroup().to_numpy()
    n_boxes = int(box_index.max()) + 1 if len(rows) else 0
    labels = np.zeros((n_boxes, num_classes), dtype=np.float32)
    labels[box_index, rows["action_id"].to_numpy() - 1] = 1.0
    first = pd.Series(np.arange(len(rows))).groupby(box_index, sort=True).first().to_numpy()
    boxes = rows.iloc[first][[*keys, "line"]].reset_index(drop=True)
    return boxes, labels


def _slices(keys: np.ndarray, n_keyframes: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order of rows by keyframe and the start offsets per keyframe (length n_keyframes + 1)."""
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(n_keyframes + 1))
    return order, starts


def build_records(
    gt: pd.DataFrame,
    proposals: pd.DataFrame | None,
    *,
    fps: float,
    start_sec: float,
    frames: dict[str, list[str]] | None = None,
    video_paths: dict[str, str] | None = None,
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

    ``frames`` maps a video to its absolute frame paths (timeline order); ``video_paths`` to its video
    file. A keyframe whose video has neither, or whose frame index falls outside the video's frames,
    raises :class:`AVAFormatError` naming the CSV line (lenient: skipped and reported).
    """
    frames = frames or {}
    video_paths = video_paths or {}
    boxes, labels = merge_gt_boxes(gt, num_classes)
    proposals = proposals if proposals is not None else pd.DataFrame(
        {"video_id": [], "sec": [], **{c: [] for c in _BOX_COLS}, "score": [], "line": []}
    )
    src = pd.concat(
        [gt[["video_id", "sec", "line"]].assign(file=str(gt_path)),
         proposals[["video_id", "sec", "line"]].assign(file=str(proposals_path))],
        ignore_index=True,
    )
    src["sec"] = src["sec"].astype(np.int64)
    keyframes = src.drop_duplicates(["video_id", "sec"]).sort_values(["video_id", "sec"], kind="stable")
    keyframes = keyframes.reset_index(drop=True)
    kf_lookup = pd.Series(
        np.arange(len(keyframes)), index=pd.MultiIndex.from_frame(keyframes[["video_id", "sec"]])
    )

    def kf_of(table: pd.DataFrame) -> np.ndarray:
        idx = pd.MultiIndex.from_arrays([table["video_id"], table["sec"].astype(np.int64)])
        return kf_lookup.reindex(idx).to_numpy(dtype=np.int64)

    g_order, g_starts = _slices(kf_of(boxes), len(keyframes))
    p_order, p_starts = _slices(kf_of(proposals), len(keyframes))
    g_xyxy = boxes[_BOX_COLS].to_numpy(dtype=np.float32)
    p_xyxy = proposals[_BOX_COLS].to_numpy(dtype=np.float32)
    p_score = proposals["score"].to_numpy(dtype=np.float32)

    records: list[dict] = []
    skipped: list[str] = []
    for k, (vid, sec, line, file) in enumerate(keyframes.itertuples(index=False)):
        vid, sec = str(vid), int(sec)
        vframes = frames.get(vid)
        vpath = video_paths.get(vid)
        kf_index = int(round((sec - start_sec) * fps))
        problem = None
        if vframes is None and vpath is None:
            problem = f"video {vid!r} has neither frames in the frame list nor a video file"
        elif kf_index < 0 or (vframes is not None and kf_index >= len(vframes)):
            n = "?" if vframes is None else len(vframes)
            problem = (f"second {sec} of video {vid!r} is frame {kf_index}, outside its {n} frames "
                       f"(start_sec={start_sec:g}, fps={fps:g})")
        if problem is not None:
            if not lenient:
                raise AVAFormatError(file, int(line), problem)
            skipped.append(f"{file}:{int(line)}: {problem}")
            continue
        gi = g_order[g_starts[k]:g_starts[k + 1]]
        pi = p_order[p_starts[k]:p_starts[k + 1]]
        gt_boxes, gt_labels = g_xyxy[gi], labels[gi]
        record = {
            "video_id": vid,
            "sec": sec,
            "image_id": f"{vid},{sec:04d}",
            "fps": float(fps),
            "start_sec": float(start_sec),
            "keyframe_index": kf_index,
            "source": "frames" if vframes is not None else "video",
            "height": int(height),
            "width": int(width),
            "boxes": np.concatenate([gt_boxes, p_xyxy[pi]]).reshape(-1, 4),
            "labels": np.concatenate(
                [gt_labels, label_proposals(gt_boxes, gt_labels, p_xyxy[pi], gt_iou)]
            ).reshape(-1, num_classes),
            "scores": np.concatenate([np.ones(len(gi), np.float32), p_score[pi]]),
            "is_gt": np.concatenate([np.ones(len(gi), bool), np.zeros(len(pi), bool)]),
        }
        if vframes is not None:
            record["frames"] = vframes
        if vpath is not None:
            record["video_path"] = vpath
        records.append(record)
    return records, skipped
