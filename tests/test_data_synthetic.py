"""The synthetic AVA-format generator: real formats that the readers accept, learnable content
(motion defines the class; hand wave aliases away at the Slow stride), determinism, Kinetics variant."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from ava_detector.ava.data.builtin import register_synthetic_ava
from ava_detector.ava.data.csv_formats import read_annotations
from ava_detector.ava.data.frame_lists import read_frame_list
from ava_detector.ava.data.records import pairwise_iou
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.synthetic_scene import (
    MOVEMENTS,
    SceneSpec,
    simulate_video,
)
from ava_detector.kinetics.data.synthetic import generate_synthetic_kinetics

SPEC = SceneSpec(duration=5, start_sec=0, width=96, height=72 + 8)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "ava_synthetic"
    summary = generate_synthetic_ava(root, train_videos=2, val_videos=1, spec=SPEC, progress=False)
    assert summary["splits"]["train"]["videos"] == 2
    return root


def test_layout_and_formats(synthetic_root):
    root = synthetic_root
    info = json.loads((root / "dataset.json").read_text())
    assert (info["start_sec"], info["fps"], info["keyframe_secs"]) == (0, 30, [1, 3])
    frames = read_frame_list(root / "frame_lists" / "train.csv")
    assert list(frames) == ["syn_train_000", "syn_train_001"]
    assert frames["syn_train_000"][0] == "syn_train_000/syn_train_000_000001.jpg"
    assert len(frames["syn_train_000"]) == 150
    assert all((root / "frames" / p).is_file() for p in frames["syn_train_001"])
    gt = read_annotations(root / "annotations" / "ava_train_v2.2.csv", sec_range=(1, 3)).table
    assert set(gt["action_id"]) <= {*MOVEMENTS.values(), 17}
    excluded = (root / "annotations" / "ava_train_excluded_timestamps_v2.2.csv").read_text()
    assert excluded == "syn_train_000,0003\n"
    assert not ((gt["video_id"] == "syn_train_000") & (gt["sec"] == 3)).any()
    with av.open(str(root / "videos" / "syn_val_000.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and float(s.average_rate) == 30
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    assert len(decoded) == 150 and decoded[0].shape == (80, 96, 3)
    jpeg = cv2.cvtColor(
        cv2.imread(str(root / "frames/syn_val_000/syn_val_000_000061.jpg")), cv2.COLOR_BGR2RGB
    )
    assert np.abs(jpeg.astype(int) - decoded[60]).mean() < 6  # same frame 61 (1-based) in both


def test_records_through_registration(synthetic_root):
    register_synthetic_ava(synthetic_root, prefix="test_syn")
    try:
        train = DatasetCatalog.get("test_syn_train")
        assert [r["sec"] for r in train[:3]] == [1, 2, 3] and train[0]["keyframe_index"] == 30
        assert MetadataCatalog.get("test_syn_train").evaluated_ids == [7, 10, 12, 14, 17, 69]
        for r in train:
            gt = r["boxes"][r["is_gt"]]
            movement = r["labels"][r["is_gt"]][:, [i - 1 for i in MOVEMENTS.values()]]
            assert (movement.sum(1) == 1).all()  # exactly one movement per person and second
            iou = pairwise_iou(gt, gt)
            assert (iou[~np.eye(len(gt), dtype=bool)] < 0.5).all()
            props = r["boxes"][~r["is_gt"] & (r["scores"] >= 0.8)]
            assert (pairwise_iou(gt, props).max(1) >= 0.8).all()  # every person has a good proposal
    finally:
        for s in ("train", "val"):
            DatasetCatalog.remove(f"test_syn_{s}")
            MetadataCatalog.remove(f"test_syn_{s}")


def test_deterministic_and_motion_defines_class():
    a = simulate_video(np.random.default_rng(5), SceneSpec())
    b = simulate_video(np.random.default_rng(5), SceneSpec())
    assert all(np.array_equal(p.cx, q.cx) and p.movements == q.movements for p, q in zip(a, b))
    speeds: dict[int, list[float]] = {v: [] for v in MOVEMENTS.values()}
    hand_slow, hand_fast = {12: [], 69: []}, {12: [], 69: []}
    for seed in range(6):
        for p in simulate_video(np.random.default_rng(seed), SceneSpec()):
            for k in range(1, 9):
                c = k * 30
                fast = np.arange(c - 16, c + 15, 2)  # 16x2 clip around the keyframe
                slow = fast[[0, 5, 10, 15]]  # linspace(0, 15, 4)
                inside = fast[(fast >= c - 15) & (fast < c + 15)]
                a_id = p.movements[k]
                step = np.abs(np.diff(p.cx[inside])) + np.abs(np.diff(p.top[inside]))
                speeds[a_id].append(step.mean() / 2)  # pixels per frame
                if a_id in hand_slow:
                    hand_slow[a_id].append(np.ptp(p.hand[slow[slow >= c - 15]]))
                    hand_fast[a_id].append(np.ptp(p.hand[inside]))
    assert max(speeds[12]) == 0 and max(speeds[69]) == 0
    assert 0.4 < np.mean(speeds[14]) <= 0.5 < 1.2 < np.mean(speeds[10]) <= 1.6
    assert np.mean(speeds[7]) > 0.5
    assert (
        max(hand_slow[69]) < 1e-6 and max(hand_slow[12]) == 0
    )  # Slow frames: wave looks like stand
    assert min(hand_fast[69]) > 5 and max(hand_fast[12]) == 0  # Fast frames: the oscillation shows


def test_kinetics_variant(tmp_path):
    s = generate_synthetic_kinetics(
        tmp_path / "k",
        train_per_class=1,
        val_per_class=1,
        seconds=2,
        spec=SceneSpec(width=64, height=80),
        progress=False,
    )
    assert s["clips"] == {"train": 5, "val": 5}
    rows = [line.split() for line in (tmp_path / "k" / "train.csv").read_text().splitlines()]
    assert [int(label) for _, label in rows] == [0, 1, 2, 3, 4]
    assert json.loads((tmp_path / "k" / "classes.json").read_text()) == list(MOVEMENTS)
    with av.open(str(tmp_path / "k" / rows[2][0])) as c:
        assert sum(1 for _ in c.decode(video=0)) == 60
    with pytest.raises(FileExistsError):
        generate_synthetic_kinetics(tmp_path / "k", progress=False)
