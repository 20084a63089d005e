"""Kinetics evaluation: view aggregation (sum / max) by hand, top-k, confusion report, left-out videos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ava_detector.kinetics.evaluator import (
    KineticsEvaluator,
    ViewResult,
    aggregate_views,
    confusion_matrix,
    most_confused,
    topk_accuracy,
)


def _views():
    # video a (label 0): two views; video b (label 2): two views, one repeated (counted once)
    return [
        ViewResult("a", 0, 0, 2, np.array([0.6, 0.3, 0.1])),
        ViewResult("b", 2, 1, 2, np.array([0.1, 0.2, 0.7])),
        ViewResult("a", 0, 1, 2, np.array([0.1, 0.8, 0.1])),
        ViewResult("b", 2, 0, 2, np.array([0.5, 0.4, 0.1])),
        ViewResult("b", 2, 0, 2, np.array([0.5, 0.4, 0.1])),
    ]


def test_sum_and_max_ensembles_by_hand():
    s = aggregate_views(_views(), "sum")
    assert s.video_ids == ["a", "b"] and s.labels.tolist() == [0, 2]
    np.testing.assert_allclose(s.scores, [[0.7, 1.1, 0.2], [0.6, 0.6, 0.8]])
    assert s.num_views == 4 and not s.left_out
    m = aggregate_views(_views(), "max")
    np.testing.assert_allclose(m.scores, [[0.6, 0.8, 0.1], [0.5, 0.4, 0.7]])
    # sum: a -> class 1 (wrong), b -> class 2 (right); max: the same here
    assert topk_accuracy(s.scores, s.labels, (1, 2)) == {1: 50.0, 2: 100.0}


def test_failed_and_missing_views_leave_the_video_out():
    views = _views() + [
        ViewResult("c", 1, 0, 2, None, "c.mp4: cannot decode video"),
        ViewResult("c", 1, 1, 2, np.array([0.0, 1.0, 0.0])),
        ViewResult("d", 1, 0, 2, np.array([0.0, 1.0, 0.0])),
    ]
    agg = aggregate_views(views, "sum")
    assert agg.video_ids == ["a", "b"]
    assert agg.left_out == {
        "c": "1 of 2 views unreadable: c.mp4: cannot decode video",
        "d": "only 1 of 2 views were evaluated",
    }
    assert agg.num_failed_views == 1 and agg.num_views == 7
    with pytest.raises(ValueError, match="ENSEMBLE"):
        aggregate_views(views, "mean")


def test_topk_and_confusion_by_hand():
    scores = np.array([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    labels = np.array([2, 0, 0, 2])
    # ranks of the label: 1, 1 (tie 0/1 broken by class order -> class 0 first), 0, 2
    assert topk_accuracy(scores, labels, (1, 2, 5)) == {1: 25.0, 2: 75.0, 5: 100.0}
    pred = scores.argmax(1)
    conf = confusion_matrix(pred, labels, 3)
    assert conf.tolist() == [[1, 0, 1], [0, 0, 0], [0, 2, 0]]
    assert most_confused(conf, ["x", "y", "z"], top_k=2) == [
        ("z", "y", 2, 100.0),
        ("x", "z", 1, 50.0),
    ]


def test_evaluator_reports_counts_left_out_and_writes_json(tmp_path):
    ev = KineticsEvaluator(
        "kinetics_synthetic_val",
        ensemble="sum",
        top_k=3,
        output_dir=str(tmp_path),
        distributed=False,
    )
    ev.reset()
    inputs = [
        {"video_id": v.video_id, "label": v.label, "view": v.view, "num_views": v.num_views}
        for v in _views()
    ]
    outputs = [{"scores": torch.as_tensor(v.scores)} for v in _views()]
    ev.process(inputs, outputs)
    ev.process(
        [
            {"video_id": "bad", "label": 1, "view": 0, "num_views": 2, "skip_reason": "too short"},
            {"video_id": "bad", "label": 1, "view": 1, "num_views": 2, "skip_reason": "too short"},
        ],
        [{}, {}],
    )
    res = ev.evaluate()["classification"]
    assert res["top1"] == 50.0 and res["top5"] == 100.0
    assert res["videos"] == 2 and res["views"] == 6 and res["left_out_videos"] == 1
    assert res["failed_views"] == 2
    doc = json.loads((tmp_path / "kinetics_results.json").read_text())
    assert doc["left_out"] == {"bad": "2 of 2 views unreadable: too short"}
    assert doc["videos"]["a"]["predicted"] == 1
