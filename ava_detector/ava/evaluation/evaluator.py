"""``AVAEvaluator``: Detectron2 ``DatasetEvaluator`` for AVA frame mAP.

Collects per-box action scores of every process, writes ``detections.csv`` in the official format
(atomically), computes the frame mAP of that file against the split's ground truth and exclusions
(so ``tools/evaluate_ava.py`` on the written file gives the same number), logs a table grouped by
label type and saves a per-class AP bar chart.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections import OrderedDict
from typing import Any

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from ava_detector.ava.data.label_map import (
    LabelMap,
    read_label_map,
)
from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.csv_io import write_ava_csv
from ava_detector.ava.evaluation.evaluate_files import evaluate_files
from ava_detector.ava.evaluation.protocols import get_protocol
from ava_detector.ava.evaluation.report import (
    format_table,
    save_bar_chart,
)

__all__ = ["AVAEvaluator", "merge_keyframe_predictions"]

logger = logging.getLogger(__name__)


def merge_keyframe_predictions(
    per_process: list[list[tuple]], evaluated_ids: list[int], class_ids: list[int] | None = None
) -> AVABoxes:
    """One table from gathered ``(video_id, sec, boxes (K,4) normalised, scores (K,C))`` items,
    each keyframe once (the first occurrence; padded samplers may repeat keyframes), sorted by
    keyframe; one row per box and evaluated id. ``class_ids``: the action id of each score column
    (default ``1..C``: column ``id - 1``); evaluated ids without a column are left out."""
    seen: dict[tuple[str, float], tuple] = {}
    for items in per_process:
        for item in items:
            seen.setdefault((str(item[0]), float(item[1])), item)
    keys = sorted(seen)
    videos = tuple(dict.fromkeys(k[0] for k in keys))
    code = {v: i for i, v in enumerate(videos)}
    if class_ids is None:
        ids = np.asarray(evaluated_ids, np.int64)
        cols = ids - 1
    else:
        column = {int(c): k for k, c in enumerate(class_ids)}
        ids = np.asarray([i for i in evaluated_ids if int(i) in column], np.int64)
        cols = np.asarray([column[int(i)] for i in ids], np.int64)
    parts = []
    for key in keys:
        _, _, boxes, scores = seen[key]
        k = len(boxes)
        if k == 0:
            continue
        parts.append(
            (
                np.full(k * len(cols), code[key[0]], np.int32),
                np.full(k * len(cols), key[1]),
                np.repeat(np.asarray(boxes, np.float64), len(cols), axis=0),
                np.tile(ids, k),
                np.asarray(scores, np.float64)[:, cols].reshape(-1),
            )
        )
    if not parts:
        return AVABoxes.empty(videos)
    return AVABoxes(videos, *(np.concatenate(c) for c in zip(*parts)))


class AVAEvaluator(DatasetEvaluator):
    """Frame mAP@0.5IOU on an AVA-style dataset registered with the metadata of
    ``docs/interfaces.md`` (``label_map_file``, ``groundtruth_file``, ``exclusions_file``, ...).

    ``evaluate()`` returns ``{"ava": {"mAP@0.5IOU": ..., "AP/<action name>": ...}}`` in percent
    (x100, like Detectron2's COCO evaluator); the CLI prints the same value on the 0-1 scale.

    Args:
        dataset_name: the registered dataset whose files are evaluated against.
        output_dir: where ``detections.csv`` and ``per_class_ap.png`` go (None: a temporary folder).
        distributed: gather the predictions of all processes (evaluated on the main one).
        protocol: a protocol name of ``protocols.PROTOCOLS`` ("official", "pyslowfast", ...).
        gt_boxes: see below.
        every_k_seconds: see below.
        class_ids: see below.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        distributed: bool = True,
        protocol: str = "official",
        gt_boxes: bool | None = None,
        every_k_seconds: int = 1,
        class_ids: list[int] | tuple[int, ...] | None = None,
    ) -> None:
        """``gt_boxes``: whether the predictions are on ground-truth boxes (the report says so;
        default: the dataset metadata's ``gt_boxes_mode``). ``every_k_seconds``: the mini-val's
        second subsampling, applied to the ground truth too. ``class_ids``: the action id of each
        output of the model (``AVA.CLASS_SUBSET``; None: outputs are ids 1..C); only those are
        evaluated."""
        meta = MetadataCatalog.get(dataset_name)
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._protocol = get_protocol(protocol).name
        self._label_map_file = meta.label_map_file
        self._groundtruth_file = meta.groundtruth_file
        self._exclusions_file = getattr(meta, "exclusions_file", "") or None
        self._gt_boxes_mode = bool(
            getattr(meta, "gt_boxes_mode", False) if gt_boxes is None else gt_boxes
        )
        self._every_k_seconds = int(every_k_seconds)
        self._label_map = read_label_map(self._label_map_file)
        self._ids = list(getattr(meta, "evaluated_ids", None) or self._label_map.ids)
        self._class_ids = None if class_ids is None else [int(c) for c in class_ids]
        if self._class_ids is not None:
            self._ids = [i for i in self._ids if i in set(self._class_ids)]
        self._predictions: list[tuple] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for inp, out in zip(inputs, outputs):
            inst = out["instances"].to("cpu")
            w, h = float(inp["width"]), float(inp["height"])
            boxes = inst.pred_boxes.tensor.numpy().astype(np.float64) / [w, h, w, h]
            self._predictions.append(
                (
                    inp["video_id"],
                    inp["sec"],
                    np.clip(boxes, 0.0, 1.0),
                    inst.scores.numpy().astype(np.float64),
                )
            )

    def evaluate(self) -> dict[str, dict[str, float]]:
        if self._distributed:
            comm.synchronize()
            gathered = comm.gather(self._predictions, dst=0)
            if not comm.is_main_process():
                return {}
        else:
            gathered = [self._predictions]
        table = merge_keyframe_predictions(gathered, self._ids, self._class_ids)
        with tempfile.TemporaryDirectory() as tmp:
            out_dir = self._output_dir or tmp
            csv_path = os.path.join(out_dir, "detections.csv")
            write_ava_csv(csv_path, table)
            label_map = LabelMap(
                {i: self._label_map.names.get(i, str(i)) for i in self._ids}, self._label_map.types
            )
            result = evaluate_files(
                self._label_map_file,
                self._groundtruth_file,
                csv_path,
                self._exclusions_file,
                self._protocol,
                label_map=label_map,
                every_k_seconds=self._every_k_seconds,
            ).result
            if self._output_dir:
                save_bar_chart(os.path.join(out_dir, "per_class_ap.png"), result, label_map)
        boxes = "ground-truth boxes (GT-box mode)" if self._gt_boxes_mode else "detector proposals"
        subset = (
            f", mini-val: seconds divisible by {self._every_k_seconds}"
            if self._every_k_seconds > 1
            else ""
        )
        logger.info(
            "AVA frame mAP on %s (%d keyframes%s):\n%s\nmAP@0.5IOU: %.6f",
            self._dataset_name,
            len(set(zip(table.video.tolist(), table.time.tolist()))),
            subset,
            format_table(result, label_map, boxes),
            result.mAP,
        )
        res = OrderedDict({"mAP@0.5IOU": 100.0 * result.mAP})
        for c, ap in result.per_class.items():
            if not math.isnan(ap):
                res[f"AP/{label_map.names.get(c, str(c))}"] = 100.0 * ap
        return OrderedDict({"ava": res})
