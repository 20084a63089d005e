"""Text report of AVA evaluation results: per-class AP table and the frame mAP line."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from detectron2.evaluation.testing import flatten_results_dict
from tabulate import tabulate

__all__ = ["MAP_KEY", "format_ava_results", "split_ava_metrics"]

MAP_KEY = "mAP@0.5IOU"


def split_ava_metrics(metrics: Mapping[str, Any]) -> tuple[float | None, dict[str, float]]:
    """(mAP, {class name: AP}) from one evaluator's flattened metrics.

    Per-class entries are the keys ``.../AP/<name>`` or ``.../AP@0.5IOU/<name>``; the mAP is the key
    ending in ``mAP@0.5IOU`` (or ``mAP``).
    """
    flat = flatten_results_dict(dict(metrics))
    mean = None
    per_class: dict[str, float] = {}
    for key, value in flat.items():
        leaf = key.split("/")
        if leaf[-1] in (MAP_KEY, "mAP"):
            mean = float(value)
        elif len(leaf) >= 2 and leaf[-2] in ("AP", "AP@0.5IOU"):
            per_class[leaf[-1]] = float(value)
    return mean, per_class


def format_ava_results(
    results: Mapping[str, Any], dataset_names: Sequence[str], gt_boxes: bool = False
) -> str:
    """The per-class AP table and ``mAP@0.5IOU`` of each dataset (``GT-box`` when in GT-box mode).

    ``results`` is ``DefaultTrainer.test``'s output: ``{dataset: metrics}``, or the metrics of the
    single dataset directly.
    """
    if len(dataset_names) == 1 and dataset_names[0] not in results:
        results = {dataset_names[0]: results}
    label = f"GT-box {MAP_KEY}" if gt_boxes else MAP_KEY
    lines = []
    for name in dataset_names:
        mean, per_class = split_ava_metrics(results.get(name, {}))
        rows = [(cls, "n/a" if math.isnan(ap) else f"{ap:.4f}") for cls, ap in per_class.items()]
        if rows:
            lines.append(tabulate(rows, headers=["class", "AP@0.5IOU"], tablefmt="pipe"))
        shown = "n/a" if mean is None else f"{mean:.4f}"
        lines.append(f"{name}: {label} = {shown}")
    return "\n".join(lines)
