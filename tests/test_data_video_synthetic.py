"""On the project's synthetic AVA-format dataset, the JPEG frames and the mp4 videos give the mapper
the same clips (within JPEG / H.264 tolerance) for every keyframe."""

from __future__ import annotations

import pytest
from detectron2.data import DatasetCatalog

from ava_detector.ava.data.builtin import register_synthetic_ava
from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.synthetic_scene import SceneSpec


@pytest.fixture(scope="module")
def synthetic_val(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava_synthetic")
    generate_synthetic_ava(
        root / "ava", train_videos=1, val_videos=1, spec=SceneSpec(duration=5), seed=0, force=True
    )
    register_synthetic_ava(root / "ava", prefix="test_data_video_synthetic")
    yield DatasetCatalog.get("test_data_video_synthetic_val")
    for split in ("train", "val"):
        DatasetCatalog.remove(f"test_data_video_synthetic_{split}")


def test_frames_and_video_sources_agree_on_synthetic_data(synthetic_val):
    assert len(synthetic_val) >= 3
    cfg = get_ava_cfg()
    cfg.INPUT.TEST_SHORT_SIDE = 120  # the synthetic frames' own size: compare unresized pixels
    mappers = {}
    for source in ("frames", "video"):
        cfg.INPUT.SOURCE = source
        mappers[source] = AVADatasetMapper(cfg, is_train=False)
    for record in synthetic_val:
        assert record.get("frames") and record.get("video_path")
        a = mappers["frames"](record)
        b = mappers["video"](record)
        assert (a["height"], a["width"]) == (b["height"], b["width"]) == (120, 160)
        for pathway in ("slow", "fast"):
            assert a["clips"][pathway].shape == b["clips"][pathway].shape
        fast = a["clips"]["fast"].float()
        aligned = (fast - b["clips"]["fast"].float()).abs().mean()
        assert aligned < 4.0, record["image_id"]  # compression noise only
        for shift in (-1 / 30, 1 / 30):  # the video read one frame early / late matches worse
            moved = mappers["video"]({**record, "start_sec": record["start_sec"] + shift})
            assert aligned < (fast - moved["clips"]["fast"].float()).abs().mean(), record[
                "image_id"
            ]
        assert (a["instances"].proposal_boxes.tensor == b["instances"].proposal_boxes.tensor).all()
