"""Clip sampling conventions (PySlowFast's) against hand-computed indices."""

from __future__ import annotations

import numpy as np
import pytest

from ava_detector.data.video.jpeg_source import JpegFrameSource
from ava_detector.data.video.sampling import (
    clip_indices,
    clip_times,
    frame_at_times,
    pathway_indices,
)


def test_clip_indices_32x2_around_keyframe():
    # c = 60 (second 902 on a timeline starting at 900 s, 30 fps): 60 - 32, 60 - 30, ..., 60 + 30
    idx = clip_indices(60, 32, 2, 27030)
    assert idx.tolist() == list(range(28, 92, 2))
    assert len(idx) == 32 and idx[16] == 60


def test_clip_indices_clamped_at_start():
    idx = clip_indices(5, 8, 2, 100)  # 5 - 8 = -3: -3, -1, 1, 3, 5, 7, 9, 11
    assert idx.tolist() == [0, 0, 1, 3, 5, 7, 9, 11]


def test_clip_indices_clamped_at_end():
    idx = clip_indices(97, 8, 2, 100)  # 89, 91, ..., 103 with last index 99
    assert idx.tolist() == [89, 91, 93, 95, 97, 99, 99, 99]


def test_clip_indices_odd_length_and_short_video():
    assert clip_indices(10, 3, 4, 50).tolist() == [4, 8, 12]  # 10 - 3*4//2 = 4
    assert clip_indices(0, 4, 1, 1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        clip_indices(0, 4, 1, 0)


def test_slow_pathway_picking():
    assert pathway_indices(32, 4).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert pathway_indices(32, 8).tolist() == [0, 10, 20, 31]
    assert pathway_indices(8, 1).tolist() == list(range(8))
    with pytest.raises(ValueError):
        pathway_indices(2, 4)


def test_clip_times_and_clamping():
    t = clip_times(2.0, 4, 2, 30, duration=2.05)  # 2 + (i - 2) * 2 / 30
    np.testing.assert_allclose(t[:3], [2 - 4 / 30, 2 - 2 / 30, 2.0])
    assert 2.05 - 1e-9 < t[3] < 2.05  # 2 + 2/30 > 2.05 is moved just inside the video
    assert clip_times(0.0, 2, 2, 30, duration=5.0).tolist() == [0.0, 0.0]


def test_frame_at_times_takes_frame_on_screen():
    # 25 fps: frame k covers [k/25, (k+1)/25)
    idx = frame_at_times([0.0, 0.039, 0.04, 1.0, 3.999, 10.0], 25, 100)
    assert idx.tolist() == [0, 0, 1, 25, 99, 99]


@pytest.mark.parametrize("center", [0, 3, 31, 32, 500, 970, 999])
def test_time_path_gives_the_same_frames_as_index_path_at_30fps(center):
    times = clip_times(center / 30, 32, 2, 30, duration=1000 / 30)
    assert frame_at_times(times, 30, 1000).tolist() == clip_indices(center, 32, 2, 1000).tolist()


class _IndexRecorder(JpegFrameSource):
    def read_indices(self, indices):
        self.last = [int(i) for i in indices]
        return np.zeros((len(indices), 1, 1, 3), np.uint8)


def test_jpeg_source_clip_uses_clip_indices():
    src = _IndexRecorder([f"f{i}.jpg" for i in range(300)], fps=30)
    src.read_clip(60 / 30, 32, 2, 30)
    assert src.last == list(range(28, 92, 2))
    # 60 fps frames with a 30 fps stride 2 -> every 4th frame of the 60 fps timeline
    src60 = _IndexRecorder([f"f{i}.jpg" for i in range(600)], fps=60)
    src60.read_clip(2.0, 4, 2, 30)
    assert src60.last == [112, 116, 120, 124]
    # 25 fps frames: by time (frame on screen at 2 + (i - 2) * 2/30 s)
    src25 = _IndexRecorder([f"f{i}.jpg" for i in range(100)], fps=25)
    src25.read_clip(2.0, 4, 2, 30)
    assert src25.last == [46, 48, 50, 51]
