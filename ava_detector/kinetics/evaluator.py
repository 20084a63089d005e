"""``KineticsEvaluator``: per-video top-1/top-5 from test views aggregated over all processes.

Every test view (one clip x one crop) gives a softmax. The views of a video are gathered from all
processes, combined by their sum or element-wise max (``KINETICS.ENSEMBLE``) and scored once per
video. A video with a view the mapper could not read (undecodable, too short) or with missing views
is left out of the accuracy and listed with the reason. The report adds the per-view / per-video
counts and the most-confused (true, predicted) class pairs. The aggregation and metrics below are
pure functions; the evaluator does the gathering, logging and the JSON file.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from tabulate import tabulate

from ava_detector.utils.atomic_files import atomic_write_text

__all__ = [
    "KineticsEvaluator",
    "VideoScores",
    "ViewResult",
    "aggregate_views",
    "confusion_matrix",
    "most_confused",
    "topk_accuracy",
]

logger = logging.getLogger(__name__)

ENSEMBLES = ("sum", "max")


@dataclass(frozen=True)
class ViewResult:
    """One test view: its softmax ``scores`` (C,), or ``None`` and the ``reason`` it was skipped."""

    video_id: str
    label: int
    view: int
    num_views: int
    scores: np.ndarray | None = None
    reason: str = ""


@dataclass
class VideoScores:
    """Per-video aggregated scores (videos sorted by id) and what was left out."""

    video_ids: list[str]
    labels: np.ndarray  # (V,) int
    scores: np.ndarray  # (V, C)
    left_out: dict[str, str] = field(default_factory=dict)
    num_views: int = 0  # distinct views received
    num_failed_views: int = 0  # views without scores


def aggregate_views(views: Iterable[ViewResult], ensemble: str = "sum") -> VideoScores:
    """Combine each video's views by ``"sum"`` or ``"max"`` of their scores; a repeated view counts
    once. Videos with a failed or missing view go to ``left_out`` ({video: reason})."""
    if ensemble not in ENSEMBLES:
        raise ValueError(f"KINETICS.ENSEMBLE must be one of {ENSEMBLES}, got {ensemble!r}")
    per_video: dict[str, dict[int, ViewResult]] = {}
    for v in views:
        per_video.setdefault(v.video_id, {}).setdefault(int(v.view), v)
    ids, labels, rows, left_out = [], [], [], {}
    failed = 0
    for vid in sorted(per_video):
        got = per_video[vid]
        bad = [v for v in got.values() if v.scores is None]
        failed += len(bad)
        expected = max(v.num_views for v in got.values())
        if bad:
            left_out[vid] = f"{len(bad)} of {expected} views unreadable: {bad[0].reason}"
            continue
        if len(got) < expected:
            left_out[vid] = f"only {len(got)} of {expected} views were evaluated"
            continue
        stacked = np.stack([np.asarray(v.scores, dtype=np.float64) for v in got.values()])
        rows.append(stacked.sum(axis=0) if ensemble == "sum" else stacked.max(axis=0))
        ids.append(vid)
        labels.append(int(next(iter(got.values())).label))
    num_classes = max((len(r) for r in rows), default=0)
    return VideoScores(
        video_ids=ids,
        labels=np.asarray(labels, dtype=np.int64),
        scores=np.stack(rows) if rows else np.zeros((0, num_classes)),
        left_out=left_out,
        num_views=sum(len(g) for g in per_video.values()),
        num_failed_views=failed,
    )


def topk_accuracy(
    scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Percentage of rows whose label is among the ``k`` highest scores (ties broken by class
    order, as ``argsort``); ``k`` larger than the class count means all classes."""
    if len(labels) == 0:
        return {k: float("nan") for k in ks}
    order = np.argsort(-scores, axis=1, kind="stable")
    hit_rank = np.argmax(order == labels[:, None], axis=1)
    return {k: 100.0 * float(np.mean(hit_rank < k)) for k in ks}


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    conf = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(conf, (labels, predicted), 1)
    return conf


def most_confused(
    conf: np.ndarray, class_names: Sequence[str], top_k: int = 10
) -> list[tuple[str, str, int, float]]:
    """The ``top_k`` off-diagonal (true, predicted, videos, % of the true class's videos) entries,
    most videos first (ties: by true then predicted class index)."""
    totals = conf.sum(axis=1)
    pairs = [
        (-int(conf[t, p]), t, p)
        for t in range(conf.shape[0])
        for p in range(conf.shape[1])
        if t != p and conf[t, p] > 0
    ]
    return [
        (class_names[t], class_names[p], -n, 100.0 * -n / totals[t])
        for n, t, p in sorted(pairs)[:top_k]
    ]


class KineticsEvaluator(DatasetEvaluator):
    """Top-1 / top-5 per video over the views of all processes (``comm.gather``).

    ``evaluate()`` returns ``{"classification": {"top1", "top5", "videos", "views",
    "left_out_videos", "failed_views"}}`` on the main process (``{}`` elsewhere), logs the counts,
    the left-out videos and the confusion report, and writes ``kinetics_results.json`` (per-video
    prediction, left-out videos with reasons) to ``output_dir`` atomically.

    Args:
        dataset_name: the registered dataset (its metadata's ``class_names`` name the classes).
        cfg: the config, for the defaults of ``ensemble`` and ``top_k`` (``KINETICS.*``).
        ensemble: how a video's view scores combine: "sum" or "max" (default
            ``KINETICS.ENSEMBLE``, else "sum").
        top_k: confused class pairs reported (default ``KINETICS.CONFUSION_TOP_K``, else 10).
        output_dir: where ``kinetics_results.json`` goes (None: not written).
        distributed: gather the views of all processes (evaluated on the main one).
    """

    def __init__(
        self,
        dataset_name: str,
        cfg: CfgNode | None = None,
        *,
        ensemble: str | None = None,
        top_k: int | None = None,
        output_dir: str | None = None,
        distributed: bool = True,
    ) -> None:
        if ensemble is None:
            ensemble = cfg.KINETICS.ENSEMBLE if cfg is not None else "sum"
        if ensemble not in ENSEMBLES:
            raise ValueError(f"KINETICS.ENSEMBLE must be one of {ENSEMBLES}, got {ensemble!r}")
        self.dataset_name = dataset_name
        self.ensemble = ensemble
        self.top_k = int(
            top_k if top_k is not None else (cfg.KINETICS.CONFUSION_TOP_K if cfg else 10)
        )
        self.output_dir = output_dir
        self.distributed = distributed
        self._views: list[ViewResult] = []

    def reset(self) -> None:
        self._views = []

    def process(self, inputs: list[dict[str, Any]], outputs: list[Any]) -> None:
        for x, out in zip(inputs, outputs):
            scores = out.get("scores") if isinstance(out, dict) else None
            self._views.append(
                ViewResult(
                    video_id=str(x["video_id"]),
                    label=int(x["label"]),
                    view=int(x.get("view", 0)),
                    num_views=int(x.get("num_views", 1)),
                    scores=None if scores is None else scores.detach().float().cpu().numpy(),
                    reason="" if scores is not None else str(x.get("skip_reason", "no scores")),
                )
            )

    def _class_names(self, num_classes: int) -> list[str]:
        names = list(getattr(MetadataCatalog.get(self.dataset_name), "class_names", []) or [])
        return names if len(names) >= num_classes else [f"class {i}" for i in range(num_classes)]

    def evaluate(self) -> dict[str, dict[str, float]]:
        if self.distributed:
            comm.synchronize()
            gathered = comm.gather(self._views, dst=0)
            if not comm.is_main_process():
                return {}
            views = [v for part in gathered for v in part]
        else:
            views = self._views
        agg = aggregate_views(views, self.ensemble)
        acc = topk_accuracy(agg.scores, agg.labels, (1, 5))
        num_classes = agg.scores.shape[1] if agg.scores.size else 0
        names = self._class_names(num_classes)
        predicted = agg.scores.argmax(axis=1) if len(agg.labels) else np.zeros(0, np.int64)
        confused = (
            most_confused(confusion_matrix(predicted, agg.labels, num_classes), names, self.top_k)
            if num_classes
            else []
        )
        self._log(agg, acc, confused)
        if self.output_dir:
            self._save(self.output_dir, agg, predicted, names, acc)
        return OrderedDict(
            classification={
                "top1": acc[1],
                "top5": acc[5],
                "videos": float(len(agg.video_ids)),
                "views": float(agg.num_views),
                "left_out_videos": float(len(agg.left_out)),
                "failed_views": float(agg.num_failed_views),
            }
        )

    def _log(self, agg: VideoScores, acc: dict[int, float], confused: list) -> None:
        logger.info(
            f"{self.dataset_name}: {agg.num_views} views ({agg.num_failed_views} unreadable), "
            f"{len(agg.video_ids)} videos scored, {len(agg.left_out)} left out; "
            f"{self.ensemble} of softmax: top-1 {acc[1]:.2f}%, top-5 {acc[5]:.2f}%"
        )
        for vid, why in agg.left_out.items():
            logger.warning(f"left out {vid}: {why}")
        if confused:
            table = tabulate(
                [(t, p, n, f"{f:.1f}") for t, p, n, f in confused],
                headers=["true class", "predicted", "videos", "% of true"],
                tablefmt="pipe",
            )
            logger.info("Most confused class pairs:\n" + table)

    def _save(
        self,
        output_dir: str,
        agg: VideoScores,
        predicted: np.ndarray,
        names: list[str],
        acc: dict[int, float],
    ) -> None:
        os.makedirs(output_dir, exist_ok=True)
        doc = {
            "dataset": self.dataset_name,
            "ensemble": self.ensemble,
            "top1": acc[1],
            "top5": acc[5],
            "views": agg.num_views,
            "failed_views": agg.num_failed_views,
            "videos": {
                vid: {"label": int(lbl), "predicted": int(p), "predicted_name": names[int(p)]}
                for vid, lbl, p in zip(agg.video_ids, agg.labels, predicted)
            },
            "left_out": agg.left_out,
        }
        path = os.path.join(output_dir, "kinetics_results.json")
        atomic_write_text(path, json.dumps(doc, indent=1))
