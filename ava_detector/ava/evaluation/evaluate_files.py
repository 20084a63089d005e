"""Frame mAP of CSV files: the I/O edge shared by the CLI, the Detectron2 evaluator and the
benchmark (read label map, ground truth, exclusions and detections, then ``frame_map``).

The detections are read whole: where scores tie, the official order depends on every row of a
keyframe, including those its per-keyframe cap drops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ava_detector.ava.data.label_map import (
    LabelMap,
    read_label_map,
)
from ava_detector.ava.evaluation.csv_io import read_ava_csv
from ava_detector.ava.evaluation.frame_map import FrameMAPResult, frame_map
from ava_detector.ava.evaluation.protocols import get_protocol

__all__ = ["FileEvaluation", "evaluate_files"]


@dataclass(frozen=True)
class FileEvaluation:
    """The metric and the label map it was computed over (for reports)."""

    result: FrameMAPResult
    label_map: LabelMap


def evaluate_files(
    labelmap: str | Path,
    groundtruth: str | Path,
    detections: str | Path,
    exclusions: str | Path | None = None,
    protocol: str = "official",
    label_map: LabelMap | None = None,
    every_k_seconds: int = 1,
) -> FileEvaluation:
    """Read the files and compute ``frame_map``; bad files raise ``InputFileError``.

    ``every_k_seconds`` > 1 keeps only the ground-truth keyframes whose second is a multiple of it:
    the "mini-val" whose detections cover just those seconds (``AVA.EVAL_EVERY_K_SECONDS``).
    """
    p = get_protocol(protocol)
    label_map = label_map or read_label_map(labelmap)
    ids = label_map.ids
    gt = read_ava_csv(groundtruth, "groundtruth")
    if every_k_seconds > 1:
        gt = gt.take(np.flatnonzero(np.round(gt.time).astype(np.int64) % every_k_seconds == 0))
    excluded = read_ava_csv(exclusions, "exclusions") if exclusions else None
    det = read_ava_csv(detections, "detections")
    return FileEvaluation(frame_map(gt, det, ids, excluded, p), label_map)
