"""Human-readable results: a per-class table grouped by label type with a group mAP each
(tabulate), and a per-class AP bar chart (matplotlib, written atomically)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tabulate import tabulate

from ava_detector.ava.data.label_map import LabelMap
from ava_detector.ava.evaluation.frame_map import FrameMAPResult
from ava_detector.utils.atomic_files import atomic_output

__all__ = ["format_table", "group_map", "save_bar_chart"]


def group_map(result: FrameMAPResult, label_map: LabelMap) -> dict[str, float]:
    """Mean AP per label type (e.g. PERSON_MOVEMENT), over its counted classes."""
    groups: dict[str, list[float]] = {}
    for c, ap in result.per_class.items():
        if not math.isnan(ap):
            groups.setdefault(label_map.types.get(c) or "UNTYPED", []).append(ap)
    return {g: float(np.mean(v)) for g, v in groups.items()}


def format_table(result: FrameMAPResult, label_map: LabelMap, boxes_note: str = "") -> str:
    """Per-class AP table, one block per label type, then group mAPs and the mAP."""
    rows = []
    by_type: dict[str, list[int]] = {}
    for c in sorted(result.per_class):
        by_type.setdefault(label_map.types.get(c) or "UNTYPED", []).append(c)
    means = group_map(result, label_map)
    for t, ids in by_type.items():
        for c in ids:
            ap = result.per_class[c]
            rows.append(
                [
                    t,
                    c,
                    label_map.names.get(c, str(c)),
                    result.num_groundtruth.get(c, 0),
                    result.num_detections.get(c, 0),
                    "-" if math.isnan(ap) else f"{ap:.4f}",
                ]
            )
        group = means.get(t)
        rows.append([t, "", "group mAP", "", "", "-" if group is None else f"{group:.4f}"])
    table = tabulate(
        rows, headers=["type", "id", "action", "#gt", "#det", "AP@0.5"], tablefmt="pipe"
    )
    lines = [table, f"protocol: {result.protocol}"]
    if boxes_note:
        lines.append(f"boxes: {boxes_note}")
    return "\n".join(lines)


def save_bar_chart(path: str | Path, result: FrameMAPResult, label_map: LabelMap) -> None:
    """Horizontal bar chart of per-class AP (classes counted in the mean), coloured by label type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = [c for c in sorted(result.per_class) if not math.isnan(result.per_class[c])]
    types = sorted({label_map.types.get(c) or "UNTYPED" for c in ids})
    colors = {t: plt.get_cmap("tab10")(i) for i, t in enumerate(types)}
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.22 * len(ids) + 1)))
    ax.barh(
        range(len(ids)),
        [result.per_class[c] for c in ids],
        color=[colors[label_map.types.get(c) or "UNTYPED"] for c in ids],
    )
    ax.set_yticks(range(len(ids)), [label_map.names.get(c, str(c)) for c in ids], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("AP@0.5IOU")
    ax.set_title(f"AVA frame mAP {result.mAP:.4f} ({result.protocol})")
    for t in types:
        ax.bar(0, 0, color=colors[t], label=t)
    if types:
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
