"""Which boxes of a keyframe record a split uses (training / test / GT-box rules).

- train: all ground-truth boxes + proposals with score >= threshold (if ``use_proposals``), each
  proposal labelled from the GT box it overlaps with IoU >= ``gt_iou`` (else a negative; the records
  carry these labels already, computed once when they were built);
- test: proposals with score >= threshold (labels zeroed: the evaluator reads the GT file);
- GT-box mode (test): the ground-truth boxes themselves; keyframes are those with GT boxes.

A record left without boxes is dropped (``None``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from ava_detector.ava.data.records import label_proposals

__all__ = ["select_boxes", "select_classes", "subsample_seconds", "records_for_cfg"]


def select_boxes(
    record: dict,
    *,
    is_train: bool,
    score_thresh: float,
    gt_iou: float | None = None,
    use_proposals: bool = True,
    gt_boxes_mode: bool = False,
) -> dict | None:
    """A shallow copy of ``record`` holding only the boxes of the split, or ``None`` if none remain.

    ``gt_iou`` relabels the proposals at another IoU than the records were built with (``None``: keep
    the record's labels)."""
    is_gt = record["is_gt"]
    boxes, labels, scores = record["boxes"], record["labels"], record["scores"]
    proposal = ~is_gt & (scores >= score_thresh)
    if is_train:
        if gt_iou is not None:
            labels = labels.copy()
            labels[~is_gt] = label_proposals(boxes[is_gt], labels[is_gt], boxes[~is_gt], gt_iou)
        keep = is_gt | (proposal if use_proposals else np.zeros_like(is_gt))
    elif gt_boxes_mode:
        keep = is_gt
    else:
        keep = proposal
        labels = np.zeros_like(labels)
    if not keep.any():
        return None
    out = dict(record)
    out.update(boxes=boxes[keep], labels=labels[keep], scores=scores[keep], is_gt=is_gt[keep])
    return out


def select_classes(records: list[dict], class_ids: Sequence[int]) -> list[dict]:
    """Records whose labels keep only the columns of ``class_ids`` (action ids, in that order): the
    targets of a head with one output per id. Boxes are kept (a box of other classes becomes a
    negative), so the detections stay comparable with the full model's."""
    cols = np.asarray(class_ids, dtype=np.int64) - 1
    out = []
    for r in records:
        r = dict(r)
        r["labels"] = r["labels"][:, cols]
        out.append(r)
    return out


def subsample_seconds(records: list[dict], every_k: int) -> list[dict]:
    """Keep the keyframes whose second, rounded as the evaluator rounds it (half to even), is a
    multiple of ``every_k`` (the "mini-val"; 1 keeps all)."""
    if every_k <= 1:
        return list(records)
    return [r for r in records if int(np.round(r["sec"])) % every_k == 0]


def records_for_cfg(dataset_name: str, cfg: CfgNode, is_train: bool) -> list[dict]:
    """``DatasetCatalog`` records of ``dataset_name`` with the boxes the config's ``AVA.*`` keys select
    (and, at test, ``AVA.EVAL_EVERY_K_SECONDS`` subsampling)."""
    records = DatasetCatalog.get(dataset_name)
    built_iou = getattr(MetadataCatalog.get(dataset_name), "proposal_gt_iou", None)
    gt_iou = float(cfg.AVA.PROPOSAL_GT_IOU)
    thresh = cfg.AVA.TRAIN_PROPOSAL_SCORE_THRESH if is_train else cfg.AVA.TEST_PROPOSAL_SCORE_THRESH
    if not is_train:
        records = subsample_seconds(records, int(cfg.AVA.EVAL_EVERY_K_SECONDS))
    selected = (
        select_boxes(
            r,
            is_train=is_train,
            score_thresh=thresh,
            gt_iou=None if built_iou == gt_iou else gt_iou,
            use_proposals=cfg.AVA.TRAIN_USE_PROPOSALS,
            gt_boxes_mode=cfg.AVA.GT_BOXES,
        )
        for r in records
    )
    kept = [r for r in selected if r is not None]
    if cfg.AVA.CLASS_SUBSET:
        kept = select_classes(kept, cfg.AVA.CLASS_SUBSET)
    if records and not kept:
        raise ValueError(
            f"{dataset_name}: none of {len(records)} keyframes has a box for "
            f"{'training' if is_train else 'testing'} (no proposals >= {thresh}"
            f"{'' if is_train else ' and AVA.GT_BOXES is off'}?)"
        )
    return kept
