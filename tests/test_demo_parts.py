"""The demo's parts against hand-computed values: schedule, box providers, the person detector, drawing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2.structures import Boxes, Instances

from ava_detector.data.errors import InputFileError
from ava_detector.demo.box_providers import (
    CSVBoxProvider,
    DatasetBoxProvider,
)
from ava_detector.demo.drawing import (
    DrawStyle,
    top_actions,
)
from ava_detector.demo.frame_buffer import FrameRingBuffer
from ava_detector.demo.person_detector import (
    PersonDetector,
    build_person_detector_cfg,
    person_boxes,
)
from ava_detector.demo.schedule import (
    clip_extent,
    keyframe_times,
    parse_every,
)


def test_parse_every():
    assert parse_every("2", 30) == 2.0
    assert parse_every("0.5s", 30) == 0.5
    assert parse_every("15f", 30) == 0.5
    assert parse_every("12 frames", 24) == 0.5
    for bad in ("0", "-1", "abc", "2x"):
        with pytest.raises(ValueError, match="--every"):
            parse_every(bad, 30)


def test_keyframe_times_and_clip_extent():
    assert list(keyframe_times(0.5, 2.0)) == [0.0, 0.5, 1.0, 1.5]
    assert list(keyframe_times(1 / 3, 1.0)) == pytest.approx([0.0, 1 / 3, 2 / 3])
    # 32x2 at 30 fps: frames c-32 .. c+30 -> 32/30 s before, 30/30 s after
    assert clip_extent(32, 2, 30) == pytest.approx((32 / 30, 1.0))


def test_ring_buffer_drops_old_frames_and_reads_displayed_frame():
    buf = FrameRingBuffer("v")
    for i in range(10):
        buf.push(i / 10, np.full((2, 2, 3), i, np.uint8))
    assert buf.read_times([0.0, 0.25, 0.9])[:, 0, 0, 0].tolist() == [0, 2, 9]
    buf.keep_from = 0.45
    buf.push(1.0, np.full((2, 2, 3), 10, np.uint8))
    assert len(buf) == 7  # 0.4 (shown at 0.45) .. 1.0
    assert buf.read_times([0.45])[0, 0, 0, 0] == 4
    with pytest.raises(RuntimeError, match="dropped"):
        buf.read_times([0.2])
    with pytest.raises(RuntimeError, match="not decoded yet"):
        buf.read_times([1.5])
    buf.finish(1.1)
    assert buf.read_times([1.5])[0, 0, 0, 0] == 10


def test_csv_provider_proposals_threshold_and_gt_dedup(tmp_path):
    prop = tmp_path / "prop.csv"
    prop.write_text(
        "v1,0902,0.1,0.1,0.3,0.5,,0.95\nv1,0902,0.5,0.1,0.7,0.5,-1,0.5\n"
        "v2,0902,0.2,0.2,0.4,0.4,,0.99\n"
    )
    p = CSVBoxProvider(prop, "v1", threshold=0.8)
    boxes, scores = p(902.0, None)
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.3, 0.5]])
    np.testing.assert_allclose(scores, [0.95], rtol=1e-6)
    assert len(p(903.0, None)[0]) == 0 and len(p(902.5, None)[0]) == 0
    gt = tmp_path / "gt.csv"
    gt.write_text(
        "v1,0902,0.1,0.1,0.3,0.5,12,0\nv1,0902,0.1,0.1,0.3,0.5,17,0\n"
        "v1,0902,0.5,0.1,0.7,0.5,14,1\nv1,0903\n"
    )
    boxes, scores = CSVBoxProvider(gt, "other_name_single_video")(902, None)
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.3, 0.5], [0.5, 0.1, 0.7, 0.5]])
    assert scores.tolist() == [1.0, 1.0]
    with pytest.raises(InputFileError, match="no rows for video"):
        CSVBoxProvider(prop, "v3")


def test_dataset_provider_keeps_ground_truth_boxes():
    records = [
        {
            "video_id": "a",
            "sec": 101,
            "start_sec": 100.0,
            "boxes": np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], np.float32),
            "is_gt": np.array([True, False]),
        }
    ]
    p = DatasetBoxProvider(records, "a")
    assert p.start_sec == 100.0
    np.testing.assert_allclose(p(101.0, None)[0], [[0, 0, 0.5, 0.5]])
    with pytest.raises(KeyError, match="no keyframes of video"):
        DatasetBoxProvider(records, "b")


def test_person_boxes_keeps_persons_above_threshold():
    boxes = np.array([[0, 0, 50, 100], [10, 10, 20, 20], [100, 0, 200, 100], [0, 0, 10, 10]])
    b, s = person_boxes(
        boxes,
        np.array([0.9, 0.99, 0.95, 0.5]),
        np.array([0, 2, 0, 0]),
        height=100,
        width=200,
        threshold=0.8,
    )
    np.testing.assert_allclose(b, [[0.5, 0, 1, 1], [0, 0, 0.25, 1]])  # highest score first
    np.testing.assert_allclose(s, [0.95, 0.9], rtol=1e-6)


def test_detectron2_person_detector_random_weights_forced_output(tmp_path, one_thread):
    """Model-zoo Faster R-CNN config + a (random, empty) local weights file; the model's output is
    forced so the person/threshold filtering and the BGR/size handling are checked."""
    with pytest.raises(FileNotFoundError, match="detector weights not found"):
        build_person_detector_cfg("COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml", "", 0.7)
    weights = tmp_path / "random.pth"
    torch.save({"model": {}}, weights)
    cfg = build_person_detector_cfg(
        "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml", str(weights), 0.7
    )
    assert cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.7
    det = PersonDetector(cfg)
    seen = {}

    def forced(inputs):
        seen["image"] = inputs[0]["image"]
        inst = Instances((60, 80))
        inst.pred_boxes = Boxes(torch.tensor([[8.0, 6, 40, 60], [0, 0, 80, 60], [40, 0, 80, 30]]))
        inst.scores = torch.tensor([0.9, 0.95, 0.6])
        inst.pred_classes = torch.tensor([0, 56, 0])
        return [{"instances": inst}]

    det.predictor.model = forced
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[..., 0] = 255  # red in RGB
    boxes, scores = det(902, frame)
    np.testing.assert_allclose(boxes, [[0.1, 0.1, 0.5, 1.0]])
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)
    image = seen["image"]  # the model sees BGR (Detectron2's COCO models): red in the last channel
    assert image[2].float().mean() > 200 and image[0].float().mean() < 5


def test_top_actions_and_style():
    scores = np.zeros(80)
    scores[[11, 13, 16, 4]] = [0.9, 0.3, 0.6, 0.95]
    names = {12: "stand", 14: "walk", 17: "carry"}
    assert top_actions(scores, names, 2, 0.1) == [(12, "stand", 0.9), (17, "carry", 0.6)]
    assert top_actions(scores, {}, 1, 0.1) == [(5, "action 5", 0.95)]
    assert top_actions(scores, names, 3, 0.5) == [(12, "stand", 0.9), (17, "carry", 0.6)]
    small, large = DrawStyle.for_frame(120, 160), DrawStyle.for_frame(2160, 3840)
    assert small.thickness == 2 and large.thickness == 12
    assert small.font_scale == 0.3 and large.font_scale == pytest.approx(2.4)


def test_csv_boxes_at_half_seconds_match_keyframes_every_half_second(tmp_path):
    """A dataset with 2 keyframes a second writes 0902.5: the demo's keyframe at 902.5 gets its boxes."""
    from ava_detector.demo.box_providers import (
        CSVBoxProvider,
        check_timestamps_match,
    )

    f = tmp_path / "boxes.csv"
    f.write_text("v,0902,0.1,0.1,0.5,0.9,,0.9\nv,0902.5,0.2,0.1,0.6,0.9,,0.8\n")
    provider = CSVBoxProvider(f, "v")
    assert provider.seconds == [902, 902.5] and type(provider.seconds[0]) is int
    frame = np.zeros((4, 4, 3), np.uint8)
    np.testing.assert_allclose(provider(902.5, frame)[0], [[0.2, 0.1, 0.6, 0.9]])
    assert len(provider(902.0004, frame)[0]) == 1 and len(provider(902.25, frame)[0]) == 0
    check_timestamps_match(provider.seconds, [902.0, 902.5, 903.0], f)
    with pytest.raises(InputFileError, match=r"the file has 0902\.\.0902\.5 \(2 seconds\)"):
        check_timestamps_match(provider.seconds, [2.0, 2.5], f)
