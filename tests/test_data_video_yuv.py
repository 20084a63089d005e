"""YUVClip: decoded video frames converted when read. A region's conversion is the whole frame's
conversion cut to the region (odd corners, padded chroma lines, edges, full-range fallback), a
lazily read clip equals the converted one even after its video is closed, and the AVA mapper's
clips from a lazy video clip equal those from the converted clip (train scale-crop + flip, the
resized grid, test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ava_detector.ava.mapper import AVADatasetMapper
from ava_detector.config.defaults import get_ava_cfg
from ava_detector.data.video import pyav_source as pv
from ava_detector.data.video.pyav_source import PyAVVideoSource
from ava_detector.data.video.synthetic import natural_frames
from ava_detector.data.video.yuv_frames import YUVClip, frame_to_rgb
from ava_detector.kinetics.mapper import KineticsDatasetMapper
from ava_detector.utils.video_writer import write_mp4


@pytest.fixture(scope="module")
def natural_mp4(tmp_path_factory):
    """3 s of natural-looking 120x200 frames (colour detail everywhere), x264 with B-frames."""
    root = tmp_path_factory.mktemp("yuv")
    return write_mp4(
        root / "nat.mp4", list(natural_frames(90, 120, 200, seed=3)), 30, crf=20, bframes=3
    )


def _decoded(path, n=4):
    import av

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == n:
                break
    return frames


@pytest.mark.parametrize(
    "box",
    [
        (0, 0, 120, 200),  # the whole frame
        (1, 3, 57, 91),  # odd corner, odd size
        (2, 4, 10, 10),  # even everything
        (33, 101, 200, 300),  # runs past the bottom-right edge (clamped as slicing is)
        (119, 199, 5, 5),  # the last pixel
    ],
)
def test_region_is_the_whole_conversion_cut_to_it(natural_mp4, box):
    frames = _decoded(natural_mp4)
    clip = YUVClip(frames)
    assert clip.shape == (4, 120, 200, 3)
    y0, x0, h, w = box
    for i, frame in enumerate(frames):
        whole = frame_to_rgb(frame)
        np.testing.assert_array_equal(clip.region(i, y0, x0, h, w), whole[y0 : y0 + h, x0 : x0 + w])
        np.testing.assert_array_equal(clip[i], whole)


def test_padded_chroma_lines_and_full_range_fallback(tmp_path):
    # width 100: chroma planes of 50 columns in padded lines; yuvj420p: swscale's full range
    raw = list(natural_frames(3, 96, 100, seed=1))
    for name, fmt in (("w100.mp4", "yuv420p"), ("full.mp4", "yuvj420p")):
        frames = _decoded(write_mp4(tmp_path / name, raw, 30, crf=15, pix_fmt=fmt), n=3)
        clip = YUVClip(frames)
        for i, frame in enumerate(frames):
            whole = frame_to_rgb(frame)
            np.testing.assert_array_equal(clip.region(i, 5, 7, 40, 51), whole[5:45, 7:58])
        np.testing.assert_array_equal(np.asarray(clip), np.stack([frame_to_rgb(f) for f in frames]))


def test_lazy_read_equals_the_converted_read_after_the_video_closes(natural_mp4):
    eager = PyAVVideoSource(natural_mp4, cache=pv.VideoCache(0)).read_clip(1.5, 8, 2, 30)
    # a cache of no videos closes the container right after the read
    lazy = PyAVVideoSource(natural_mp4, cache=pv.VideoCache(0)).read_clip_lazy(1.5, 8, 2, 30)
    assert isinstance(lazy, YUVClip) and lazy.shape == eager.shape
    np.testing.assert_array_equal(lazy.to_array(), eager)
    # a clip running past the end repeats the last frame: the same object in several places
    end = PyAVVideoSource(natural_mp4, cache=pv.VideoCache(0)).read_clip_lazy(2.9, 8, 2, 30)
    assert len({id(f) for f in end.frames}) < len(end)
    np.testing.assert_array_equal(
        end.to_array(), PyAVVideoSource(natural_mp4).read_clip(2.9, 8, 2, 30)
    )


def _video_cfg(grid: str = "source"):
    """8-frame clips from the video source, scaled to a short side of 96-112 and cropped to 80."""
    cfg = get_ava_cfg()
    cfg.INPUT.SOURCE = "video"
    cfg.INPUT.NUM_FRAMES = 8
    cfg.INPUT.TRAIN_JITTER_SCALES = (96, 112)
    cfg.INPUT.TRAIN_CROP_SIZE = 80
    cfg.INPUT.TEST_SHORT_SIDE = 96
    cfg.INPUT.TRAIN_CROP_GRID = grid
    return cfg


def _record(path):
    return {
        "video_id": "nat",
        "sec": 1.5,
        "start_sec": 0.0,
        "fps": 30.0,
        "image_id": "nat,0001",
        "video_path": str(path),
        "height": 120,
        "width": 200,
        "boxes": np.array([[0.1, 0.2, 0.5, 0.9], [0.4, 0.1, 0.95, 0.7]], np.float32),
        "labels": np.eye(2, 80, dtype=np.float32),
        "scores": np.ones(2, np.float32),
        "is_gt": np.ones(2, bool),
    }


@pytest.mark.parametrize("is_train, grid", [(True, "source"), (True, "resized"), (False, "source")])
def test_mapper_clips_from_lazy_and_converted_video_clips_are_equal(
    natural_mp4, monkeypatch, is_train, grid
):
    mapper = AVADatasetMapper(_video_cfg(grid), is_train=is_train)
    record = _record(natural_mp4)

    def mapped(seed):
        np.random.seed(seed)
        out = mapper(record)
        return out["clips"], out["instances"].proposal_boxes.tensor

    lazy = [mapped(s) for s in range(6)]
    calls = []

    def converted(self, *args):
        calls.append(args)
        return self.read_clip(*args)

    monkeypatch.setattr(PyAVVideoSource, "read_clip_lazy", converted)
    eager = [mapped(s) for s in range(6)]
    assert len(calls) == 6
    for (lc, lb), (ec, eb) in zip(lazy, eager):
        assert lc.keys() == ec.keys()
        for name in lc:
            assert torch.equal(lc[name], ec[name])
        assert torch.equal(lb, eb)


@pytest.mark.parametrize("is_train", [True, False])
def test_kinetics_clips_from_lazy_and_converted_video_clips_are_equal(
    natural_mp4, monkeypatch, is_train
):
    mapper = KineticsDatasetMapper(_video_cfg(), is_train=is_train)
    record = {"video_id": "nat", "video_path": str(natural_mp4), "label": 1, "source": "video"}
    if not is_train:
        record.update(clip_index=1, crop_index=2, view=5, num_views=9)

    def mapped(seed):
        np.random.seed(seed)
        return mapper(record)["clips"]

    lazy = [mapped(s) for s in range(4)]
    monkeypatch.setattr(
        PyAVVideoSource, "read_clip_lazy", lambda self, *args: self.read_clip(*args)
    )
    for seed, clips in enumerate(lazy):
        eager = mapped(seed)
        assert all(torch.equal(clips[name], eager[name]) for name in eager)
