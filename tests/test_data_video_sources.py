"""JPEG and PyAV frame sources: same frames for the same keyframe, right frames at non-30 fps and
variable frame rate, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from ava_detector.data.errors import InputFileError
from ava_detector.data.video.frame_source import (
    build_frame_source,
    keyframe_time,
    sample_clip,
)
from ava_detector.data.video.jpeg_source import JpegFrameSource
from ava_detector.data.video.pyav_source import PyAVVideoSource
from ava_detector.data.video.sampling import clip_indices
from ava_detector.data.video.synthetic import (
    numbered_frame,
    read_frame_number,
    write_jpeg_frames,
)
from ava_detector.utils.video_writer import write_mp4

NUM = 150  # 5 s at 30 fps


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """The same 150 numbered frames as a JPEG folder and as a 30 fps mp4 (key frame every 12)."""
    root = tmp_path_factory.mktemp("numbered")
    frames = [numbered_frame(i, 96, 128) for i in range(NUM)]
    paths = write_jpeg_frames(root / "frames" / "vid", "vid", frames)
    video = write_mp4(root / "vid.mp4", frames, 30, crf=10, gop=12, bframes=3)
    return paths, video


def _numbers(clip):
    return [read_frame_number(f) for f in clip]


def test_numbered_frames_round_trip():
    assert [read_frame_number(numbered_frame(i)) for i in (0, 1, 77, 4095)] == [0, 1, 77, 4095]


@pytest.mark.parametrize("center", [0, 7, 60, 75, 149])
def test_jpeg_and_video_sources_agree(numbered, center):
    paths, video = numbered
    jpeg = sample_clip(JpegFrameSource(paths, 30), center / 30, 32, 2, 30)
    vid = sample_clip(PyAVVideoSource(video), center / 30, 32, 2, 30)
    expected = clip_indices(center, 32, 2, NUM).tolist()
    assert _numbers(jpeg) == expected
    assert _numbers(vid) == expected
    assert jpeg.shape == vid.shape == (32, 96, 128, 3) and vid.dtype == np.uint8
    # same pictures within JPEG (q95) / H.264 (crf 10) tolerance
    assert np.abs(jpeg.astype(np.int16) - vid.astype(np.int16)).mean() < 4.0


def test_25fps_video_returns_frames_displayed_at_the_requested_times(tmp_path):
    video = write_mp4(tmp_path / "v25.mp4", [numbered_frame(i) for i in range(100)], 25, gop=10)
    src = PyAVVideoSource(video)
    assert src.duration == pytest.approx(4.0)
    got = _numbers(src.read_times([2.5, 0.0, 0.039, 0.04, 1.0, 1.999, 3.99, 7.0]))
    assert got == [62, 0, 0, 1, 25, 49, 99, 99]
    # a 32x2 clip at 30 fps sample times around t = 2 s: frame floor(25 * (2 + (i - 16) / 15))
    clip = sample_clip(src, 2.0, 32, 2, 30)
    expected = [int(np.floor(25 * (2 + (i - 16) * 2 / 30) + 1e-6)) for i in range(32)]
    assert _numbers(clip) == expected
    # by hand: 25 * (2 - 32/30) = 23.3, 25 * (2 - 30/30) = 25, 25 * (2 - 28/30) = 26.7, ...
    # (30 fps frame-count arithmetic would give 50 - 32 = 18, 20, 22)
    assert expected[:3] == [23, 25, 26] and expected[16] == 50


def test_variable_frame_rate_video(tmp_path):
    gaps = np.random.RandomState(0).choice([0.02, 0.05, 0.1], 39)
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    video = write_mp4(
        tmp_path / "vfr.mp4", [numbered_frame(i) for i in range(40)], 30, times=times, gop=8
    )
    src = PyAVVideoSource(video)
    queries = np.concatenate([times + 0.001, times[1:] - 0.003])
    expected = list(range(40)) + list(range(39))
    assert _numbers(src.read_times(queries)) == expected


def test_records_choose_the_source_and_the_keyframe_time(numbered):
    paths, video = numbered
    record = {
        "video_id": "vid",
        "sec": 902,
        "start_sec": 900.0,
        "fps": 30.0,
        "keyframe_index": 60,
        "frames": paths,
        "video_path": video,
    }
    assert keyframe_time(record, "frames") == pytest.approx(2.0)
    assert keyframe_time(record, "video") == pytest.approx(2.0)
    assert isinstance(build_frame_source("frames", record), JpegFrameSource)
    assert isinstance(build_frame_source("video", record), PyAVVideoSource)
    with pytest.raises(InputFileError, match="no video_path"):
        build_frame_source("video", {"video_id": "vid", "frames": paths})


def test_missing_frame_raises_naming_the_file(tmp_path):
    paths = write_jpeg_frames(tmp_path / "v", "v", [numbered_frame(i) for i in range(10)])
    missing = paths[4]
    (tmp_path / "v" / "v_000005.jpg").unlink()
    src = JpegFrameSource(paths, 30)
    assert _numbers(src.read_indices([0, 1, 2, 3])) == [0, 1, 2, 3]
    with pytest.raises(InputFileError, match="missing") as err:
        src.read_clip(5 / 30, 4, 1, 30)
    assert err.value.path == missing


def test_corrupt_frame_raises_naming_the_file(tmp_path):
    paths = write_jpeg_frames(tmp_path / "v", "v", [numbered_frame(i) for i in range(4)])
    with open(paths[2], "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(InputFileError, match="cannot be decoded") as err:
        JpegFrameSource(paths, 30).read_indices([1, 2])
    assert err.value.path == paths[2]


def test_missing_and_undecodable_video_raise_naming_the_file(tmp_path):
    with pytest.raises(InputFileError, match="missing") as err:
        PyAVVideoSource(str(tmp_path / "nope.mp4")).read_times([0.0])
    assert err.value.path.endswith("nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(InputFileError) as err:
        PyAVVideoSource(str(bad)).read_clip(1.0, 4, 2, 30)
    assert err.value.path == str(bad)
