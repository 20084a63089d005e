"""Dropping detection rows that cannot affect ``frame_map`` (ids not evaluated, excluded or
unannotated keyframes), for readers that prune large files chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ava_detector.ava.evaluation.boxes import AVABoxes
from ava_detector.ava.evaluation.keyframe_keys import _class_index, _columns, _runs_of, _seconds
from ava_detector.ava.evaluation.protocols import EvalProtocol, get_protocol

__all__ = ["DetectionPruner", "prune_detections"]


def prune_detections(
    detections: AVABoxes,
    ground_truth_keys: AVABoxes | None,
    evaluated_ids: Iterable[int],
    excluded: AVABoxes | None,
    protocol: str | EvalProtocol = "official",
) -> AVABoxes:
    """Drop detection rows that cannot affect ``frame_map``: ids not evaluated, excluded keyframes
    and (protocols that ignore them) keyframes absent from the ground truth.

    Args:
        detections: rows to filter (e.g. one chunk of a large file).
        ground_truth_keys: the ground truth's keyframes (``AVABoxes.keyframes``); ``None`` skips
            the keyframe filter.
        evaluated_ids: the evaluated action ids.
        excluded: the exclusion list's keyframes, or ``None``.
        protocol: a protocol name or ``EvalProtocol``.
    """
    return DetectionPruner(ground_truth_keys, evaluated_ids, excluded, protocol)(detections)


class DetectionPruner:
    """``prune_detections`` with its keyframe sets encoded once, for chunked readers.

    Every row of a kept keyframe and evaluated id stays: the official heap's order on equal
    scores depends on all of them.
    """

    def __init__(
        self,
        ground_truth_keys: AVABoxes | None,
        evaluated_ids: Iterable[int],
        excluded: AVABoxes | None,
        protocol: str | EvalProtocol = "official",
    ):
        """Args:
        ground_truth_keys: the ground truth's keyframes, or ``None``.
        evaluated_ids: the evaluated action ids.
        excluded: the exclusion list's keyframes, or ``None``.
        protocol: a protocol name or ``EvalProtocol``.
        """
        self.protocol = p = get_protocol(protocol)
        self.ids = np.array(sorted(set(int(i) for i in evaluated_ids)), np.int64)
        self._names: dict[tuple[str, float], bool] = {}
        for t, drop in (
            (excluded, True),
            (ground_truth_keys if p.ignore_unannotated else None, False),
        ):
            if t is None:
                continue
            sec = _seconds(t.time, p.integer_seconds) + 0.0
            for v, s in zip(t.video.tolist(), sec.tolist()):
                self._names.setdefault((t.videos[v], s), drop)
        self._filter_unannotated = p.ignore_unannotated and ground_truth_keys is not None

    def __call__(self, detections: AVABoxes) -> AVABoxes:
        """Args:
        detections: rows to filter.
        """
        keep = _class_index(detections.label, self.ids) >= 0
        if self._names or self._filter_unannotated:
            runs = _runs_of([_columns(detections)], self.protocol.integer_seconds)[0]
            assert runs is not None  # its table is given
            sec = _seconds(detections.time[runs.start], self.protocol.integer_seconds) + 0.0
            ok = []
            for v, s in zip(detections.video[runs.start].tolist(), sec.tolist()):
                state = self._names.get((detections.videos[v], s))
                ok.append(state is False or (state is None and not self._filter_unannotated))
            keep &= np.repeat(np.array(ok, bool), runs.length)
        return detections.take(keep)
