"""KineticsDatasetMapper on small H.264 files: test-view frames and crops by hand, the skip policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.pyav_source import PyAVVideoSource
from ava_detector.data.video.synthetic import (
    numbered_frame,
    read_frame_number,
)
from ava_detector.kinetics.data.views import expand_test_views
from ava_detector.kinetics.evaluator import KineticsEvaluator
from ava_detector.kinetics.mapper import KineticsDatasetMapper
from ava_detector.utils.video_writer import write_mp4


def _mapper(is_train: bool, **kw) -> KineticsDatasetMapper:
    args = dict(
        augmentations=[],
        test_size=64,
        num_crops=3,
        num_clips=3,
        arch="slowfast",
        num_frames=4,
        sampling_rate=2,
        alpha=2,
        target_fps=30,
    )
    args.update(kw)
    return KineticsDatasetMapper(is_train, **args)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("kinetics_videos")
    square = write_mp4(d / "square.mp4", [numbered_frame(i, 64, 64) for i in range(90)], fps=30)
    wide = write_mp4(d / "wide.mp4", [numbered_frame(i, 64, 96) for i in range(30)], fps=30)
    short = write_mp4(d / "short.mp4", [numbered_frame(i, 64, 64) for i in range(5)], fps=30)
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return {"square": square, "wide": wide, "short": short, "corrupt": str(corrupt)}


def _record(path: str, label: int = 1) -> dict:
    return {
        "video_id": path.rsplit("/", 1)[-1],
        "video_path": path,
        "label": label,
        "source": "video",
    }


def test_test_clip_frames_by_hand(videos):
    # 90 frames (3 s), clip 4 x 2 = 8 frames: clip k starts at k * (90 - 8) / 3 frames.
    views = expand_test_views([_record(videos["square"])], num_clips=3, num_crops=3)
    mapper = _mapper(False)
    for view in views[::3]:
        out = mapper(view)
        fast = out["clips"]["fast"].permute(1, 2, 3, 0).numpy()
        numbers = [read_frame_number(f) for f in fast]
        first = {0: 0, 1: 27, 2: 54}[view["clip_index"]]  # floor(0), floor(27.33), floor(54.67)
        assert numbers == [first, first + 2, first + 4, first + 6]
        slow = out["clips"]["slow"].permute(1, 2, 3, 0).numpy()
        assert [read_frame_number(f) for f in slow] == [first, first + 6]  # linspace(0, 3, 2)
        assert (out["label"], out["num_views"], out["height"], out["width"]) == (1, 9, 64, 64)


def test_test_crops_are_left_centre_right(videos):
    record = _record(videos["wide"])
    # clip 0 of 1 starts at 0: centred at 4 / 30 s; crops of 64 in a 96-wide frame at x = 0, 16, 32
    full = PyAVVideoSource(videos["wide"]).read_clip(4 / 30, 4, 2, 30)
    mapper = _mapper(False, num_clips=1)
    for view, x0 in zip(expand_test_views([record], 1, 3), (0, 16, 32)):
        fast = mapper(view)["clips"]["fast"].permute(1, 2, 3, 0).numpy()
        assert fast.shape == (4, 64, 64, 3)
        np.testing.assert_array_equal(fast, full[:, :, x0 : x0 + 64])


def test_test_views_resize_as_training_does(videos):
    """A test view is scaled like the training clips: OpenCV bilinear to PySlowFast's size (short
    side 48, long side floor(96 / 64 * 48) = 72), then the square crop."""
    import cv2

    record = _record(videos["wide"])
    full = PyAVVideoSource(videos["wide"]).read_clip(4 / 30, 4, 2, 30)
    scaled = np.stack([cv2.resize(f, (72, 48), interpolation=cv2.INTER_LINEAR) for f in full])
    mapper = _mapper(False, num_clips=1, test_size=48)
    for view, x0 in zip(expand_test_views([record], 1, 3), (0, 12, 24)):
        fast = mapper(view)["clips"]["fast"].permute(1, 2, 3, 0).numpy()
        np.testing.assert_array_equal(fast, scaled[:, :, x0 : x0 + 48])


def test_training_clip_is_random_inside_the_video_and_augmented(videos):
    from ava_detector.config.defaults import get_ava_cfg
    from ava_detector.data.transforms.augmentation import build_clip_augmentation

    cfg = get_ava_cfg()
    cfg.INPUT.TRAIN_JITTER_SCALES, cfg.INPUT.TRAIN_CROP_SIZE = [64, 80], 48
    mapper = _mapper(True, augmentations=build_clip_augmentation(cfg, True))
    np.random.seed(0)
    starts = set()
    for _ in range(5):
        out = mapper(_record(videos["square"]))
        assert out["clips"]["fast"].shape == (3, 4, 48, 48)
        assert out["clips"]["slow"].shape == (3, 2, 48, 48)
    for _ in range(20):
        s = mapper.clip_start({}, 3.0)
        assert 0.0 <= s <= 3.0 - 8 / 30
        starts.add(round(s, 6))
    assert len(starts) == 20


def test_bad_videos_in_training_are_skipped_or_raise(videos):
    strict = _mapper(True)
    with pytest.raises(InputFileError, match="corrupt.mp4"):
        strict(_record(videos["corrupt"]))
    lenient = _mapper(True, skip_bad_samples=True, max_bad_sample_retries=2)
    assert lenient(_record(videos["corrupt"])) is None
    assert lenient(_record(videos["short"])) is None  # 5 frames < the 8-frame clip
    assert lenient.num_skipped == 2
    with pytest.raises(InputFileError, match="too short"):
        lenient(_record(videos["short"]))  # a third in a row: past max_bad_sample_retries=2
    assert lenient(_record(videos["square"])) is not None


def test_bad_videos_at_test_are_reported_as_left_out(videos, tmp_path):
    mapper = _mapper(False, skip_bad_samples=False)
    records = [
        _record(videos["square"], 0),
        _record(videos["corrupt"], 1),
        _record(videos["short"], 1),
    ]
    views = expand_test_views(records, num_clips=3, num_crops=1)
    outs = [mapper(v) for v in views]
    assert all("clips" not in o and "skip_reason" in o for o in outs[3:])
    assert "too short: 0.167 s" in outs[-1]["skip_reason"]
    ev = KineticsEvaluator(
        "kinetics_test_views", ensemble="sum", distributed=False, output_dir=str(tmp_path)
    )
    ev.reset()
    scores = np.array([0.9, 0.1], np.float32)
    ev.process(views, [{"scores": torch.from_numpy(scores)} if "clips" in o else {} for o in outs])
    res = ev.evaluate()["classification"]
    assert (res["videos"], res["left_out_videos"], res["failed_views"], res["top1"]) == (
        1,
        2,
        6,
        100.0,
    )
