"""Real-AVA preparation on tiny synthetic videos: the PyAV frame extraction's resampling rule by hand,
the cut, the frame-list builder."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import grey_video

from ava_detector.ava.data.frame_lists import read_frame_list
from ava_detector.ava.data.prep import (
    cut_video,
    extract_frames,
    ffmpeg_cut_command,
    ffmpeg_frames_command,
    output_frame_sources,
    write_frame_lists,
)
from ava_detector.data.errors import InputFileError


def _levels(paths):
    return [int(round((cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).mean() - 20) / 4)) for p in paths]


def test_output_frame_sources_by_hand():
    # 25 fps input -> 30 fps: output j shows the last input k with k/25 < (j + 0.5)/30.
    assert output_frame_sources(np.arange(50) / 25, 30, 7).tolist() == [0, 1, 2, 2, 3, 4, 5]
    assert output_frame_sources(np.arange(5) / 30, 30, 5).tolist() == [0, 1, 2, 3, 4]
    assert ffmpeg_frames_command("v.mp4", "f/v", "v")[-5:] == [
        "-r",
        "30",
        "-q:v",
        "1",
        "f/v/v_%06d.jpg",
    ]


def test_extract_25fps_video_to_30fps_frames(tmp_path):
    grey_video(tmp_path / "v.mp4", 50, 25)
    n = extract_frames(tmp_path / "v.mp4", tmp_path / "frames", "vid", fps=30, use_ffmpeg=False)
    assert n == 60
    paths = sorted((tmp_path / "frames" / "vid").glob("vid_*.jpg"))
    assert paths[0].name == "vid_000001.jpg"
    assert _levels(paths[:7]) == [0, 1, 2, 2, 3, 4, 5] and _levels(paths[-1:]) == [49]


def test_cut_key_frame_interval(tmp_path):
    """``gop`` sets the frames between key frames of the cut (ffmpeg's ``-g`` and PyAV's)."""

    assert ffmpeg_cut_command("m.mp4", "c.mp4", 900, 901, gop=30)[-5:] == [
        "-g",
        "30",
        "-f",
        "mp4",
        "c.mp4",
    ]
    assert "-g" not in ffmpeg_cut_command("m.mp4", "c.mp4", 900, 901)
    grey_video(tmp_path / "movie.mp4", 40, 10)
    cut = cut_video(
        tmp_path / "movie.mp4", tmp_path / "cut.mp4", start=1, length=2, use_ffmpeg=False, gop=5
    )
    with av.open(str(cut)) as c:
        keys = [i for i, f in enumerate(c.decode(video=0)) if f.key_frame]
    # x264's keyint is the largest interval: its lookahead may place a key frame earlier
    assert keys[0] == 0 and len(keys) >= 4 and max(np.diff(keys)) <= 5
    plain = cut_video(
        tmp_path / "movie.mp4", tmp_path / "plain.mp4", start=1, length=2, use_ffmpeg=False
    )
    with av.open(str(plain)) as c:
        assert [i for i, f in enumerate(c.decode(video=0)) if f.key_frame] == [0]


def test_cut_then_frame_lists(tmp_path):
    grey_video(tmp_path / "movie.mp4", 40, 10)  # 4 s at 10 fps
    cut = cut_video(
        tmp_path / "movie.mp4", tmp_path / "cut.mp4", start=1, length=2, use_ffmpeg=False
    )
    root = tmp_path / "ava"
    assert extract_frames(cut, root / "frames", "a", fps=10, use_ffmpeg=False) == 20
    assert _levels(sorted((root / "frames" / "a").glob("*.jpg"))[:2]) == [10, 11]  # starts at 1 s
    assert write_frame_lists(root, {"val": ["a"]}) == {"val": 20}
    assert read_frame_list(root / "frame_lists" / "val.csv")["a"][:2] == [
        "a/a_000001.jpg",
        "a/a_000002.jpg",
    ]
    with pytest.raises(
        InputFileError, match=r"frames/b: no frames for 1 video\(s\) of split 'train'"
    ):
        write_frame_lists(root, {"train": ["a", "b"]})
