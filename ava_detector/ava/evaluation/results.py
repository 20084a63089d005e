"""Text report of AVA evaluation results: per-class AP table and the frame mAP line."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

from ava_detector.utils.atomic_files import atomic_write_text

__all__ = [
    "MAP_KEY",
    "format_ava_results",
    "format_comparison",
    "load_results",
    "save_results",
    "split_ava_metrics",
]

MAP_KEY = "mAP@0.5IOU"
_AP_PREFIX = "AP/"


def split_ava_metrics(metrics: Mapping[str, Any]) -> tuple[float | None, dict[str, float]]:
    """(mAP, {class name: AP}) on the 0-1 scale from ``AVAEvaluator``'s ``{"ava": {...}}``, whose
    values are percentages (``"mAP@0.5IOU"``, ``"AP/<action name>"``; names may contain "/")."""
    flat = metrics.get("ava", metrics)
    mean = flat.get(MAP_KEY)
    per_class = {
        k[len(_AP_PREFIX) :]: float(v) / 100.0 for k, v in flat.items() if k.startswith(_AP_PREFIX)
    }
    return (None if mean is None else float(mean) / 100.0), per_class


def format_ava_results(
    results: Mapping[str, Any],
    dataset_names: Sequence[str],
    gt_boxes: bool = False,
    per_class: bool = True,
) -> str:
    """The per-class AP table (unless ``per_class`` is False) and ``mAP@0.5IOU`` of each dataset
    (``GT-box mAP@0.5IOU`` in GT-box mode). ``results`` is ``DefaultTrainer.test``'s output:
    ``{dataset: metrics}``, or the metrics of the single dataset directly."""
    if len(dataset_names) == 1 and dataset_names[0] not in results:
        results = {dataset_names[0]: results}
    label = f"GT-box {MAP_KEY}" if gt_boxes else MAP_KEY
    lines = []
    for name in dataset_names:
        mean, aps = split_ava_metrics(results.get(name, {}))
        if aps and per_class:
            rows = sorted(aps.items())
            lines.append(
                tabulate(rows, headers=["action", "AP@0.5IOU"], tablefmt="pipe", floatfmt=".4f")
            )
        shown = "n/a" if mean is None else f"{mean:.4f}"
        lines.append(f"{name}: {label} = {shown}")
    return "\n".join(lines)


def format_comparison(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Per-class AP of several runs side by side (``{run label: metrics}``), with a mAP row."""
    split = {label: split_ava_metrics(m) for label, m in runs.items()}
    classes = sorted({c for _, per_class in split.values() for c in per_class})
    rows = [[c, *(split[label][1].get(c, float("nan")) for label in runs)] for c in classes]
    rows.append(
        [MAP_KEY, *(float("nan") if split[label][0] is None else split[label][0] for label in runs)]
    )
    return tabulate(rows, headers=["action", *runs], tablefmt="pipe", floatfmt=".4f")


def save_results(results: Mapping[str, Any], path: str) -> None:
    """Write evaluation results as JSON, atomically (temporary file, fsync, then rename).

    Args:
        results: ``{dataset: metrics}``.
        path: the JSON file.
    """
    atomic_write_text(path, json.dumps(results, indent=1, default=float))


def load_results(path: str) -> dict[str, Any]:
    """Results written by :func:`save_results`."""
    with open(path) as f:
        return json.load(f)
