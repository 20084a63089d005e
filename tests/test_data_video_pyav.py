"""PyAV source internals: OpenCV's YUV -> RGB equals swscale's within rounding, frame identity is
unchanged by skipping unreferenced frames and by the per-process cache of open videos (sequential,
overlapping, backwards and random clips, long GOPs with B-frames, variable frame rate with long
gaps), the cache's bounds, a forked child's own files."""

from __future__ import annotations

import multiprocessing as mp

import av
import numpy as np
import pytest

from ava_detector.data.video import pyav_source as pv
from ava_detector.data.video import yuv_frames as yf
from ava_detector.data.video.frame_source import sample_clip
from ava_detector.data.video.pyav_source import PyAVVideoSource
from ava_detector.data.video.sampling import clip_indices
from ava_detector.data.video.synthetic import (
    numbered_frame,
    read_frame_number,
)
from ava_detector.utils.video_writer import write_mp4

NUM = 300  # 10 s at 30 fps


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    """300 numbered frames, key frame every 250 frames, 3 B-frames (as real movies)."""
    root = tmp_path_factory.mktemp("pyav")
    return write_mp4(
        root / "gop250.mp4",
        [numbered_frame(i, 96, 128) for i in range(NUM)],
        30,
        crf=12,
        gop=250,
        bframes=3,
    )


def _numbers(clip):
    return [read_frame_number(f) for f in clip]


def test_opencv_conversion_matches_swscale(long_gop):
    with av.open(long_gop) as container:
        for n, frame in enumerate(container.decode(video=0)):
            assert frame.format.name == "yuv420p" and frame.colorspace in yf._BT601
            ours = yf.frame_to_rgb(frame).astype(np.int16)
            ref = frame.to_ndarray(format="rgb24").astype(np.int16)
            assert ours.shape == ref.shape == (96, 128, 3)
            diff = np.abs(ours - ref)
            assert diff.mean() < 1.0 and diff.max() <= 8  # chroma interpolation / rounding only
            if n == 20:
                break


@pytest.mark.parametrize("width", [128, 100])  # 100: chroma rows padded (line size > width)
def test_i420_planes_and_conversion_into_a_clip(tmp_path, width):
    path = write_mp4(
        tmp_path / f"w{width}.mp4", [numbered_frame(i, 96, width) for i in range(4)], 30, crf=12
    )
    with av.open(path) as container:
        for frame in container.decode(video=0):
            # our one-copy I420 buffer is PyAV's to_ndarray("yuv420p")
            np.testing.assert_array_equal(yf.i420_buffer(frame), frame.to_ndarray(format="yuv420p"))
            out = np.full((2, 96, width, 3), 7, dtype=np.uint8)
            assert yf.frame_to_rgb(frame, out[1]) is not None
            np.testing.assert_array_equal(out[1], yf.frame_to_rgb(frame))
            assert (out[0] == 7).all()


def test_read_without_conversion_gives_the_frames_times(long_gop):
    # the benchmark's video decode floor: the same frames chosen, their display times returned
    times = np.array([2.0, 2.5, 2.5, 0.0, 9.9])
    frames = PyAVVideoSource(long_gop, cache=pv.VideoCache(0)).read_times(times)
    video = pv._OpenVideo(long_gop)
    try:
        chosen = video.read(times, convert=False)
    finally:
        video.close()
    assert chosen.shape == (5,)
    np.testing.assert_allclose(chosen * 30, _numbers(frames), atol=1e-6)


def test_full_range_video_keeps_its_colours(tmp_path):
    frames = [numbered_frame(i, 96, 128) for i in range(6)]
    full = write_mp4(tmp_path / "full.mp4", frames, 30, crf=10, pix_fmt="yuvj420p")
    clip = PyAVVideoSource(full, cache=pv.VideoCache(0)).read_times(np.arange(6) / 30)
    assert _numbers(clip) == list(range(6))
    err = np.abs(clip.astype(np.int16) - np.stack(frames).astype(np.int16))
    assert err.mean() < 3.0  # a limited-range reading would stretch the contrast (~10 levels off)


def _clip(src, center):
    return _numbers(sample_clip(src, center / 30, 32, 2, 30))


def test_cache_and_skipping_keep_frame_identity(long_gop):
    cache = pv.VideoCache(max_videos=2)
    src = PyAVVideoSource(long_gop, cache=cache)
    # sequential keyframes (overlapping clips), a jump ahead, backwards, past the end, the start
    for center in [60, 90, 120, 150, 240, 280, 299, 100, 32, 0, 200, 201, 17]:
        assert _clip(src, center) == clip_indices(center, 32, 2, NUM).tolist(), center
    (video,) = cache._videos.values()
    assert video.window and video.frames is not None  # kept open, positioned after the last clip
    rng = np.random.RandomState(0)
    fresh = PyAVVideoSource(long_gop, cache=pv.VideoCache(0))
    for center in rng.randint(0, NUM, 12):
        assert (
            _clip(src, center) == _clip(fresh, center) == clip_indices(center, 32, 2, NUM).tolist()
        )
    cache.clear()


def test_unneeded_unreferenced_frames_are_not_decoded(long_gop, monkeypatch):
    decoded = []
    real = pv._OpenVideo.next_entry

    def spy(self):
        entry = real(self)
        if entry is not None:
            decoded.append(round(entry.t * 30))
        return entry

    monkeypatch.setattr(pv._OpenVideo, "next_entry", spy)
    src = PyAVVideoSource(long_gop, cache=pv.VideoCache(0))
    assert _clip(src, 200) == clip_indices(200, 32, 2, NUM).tolist()
    before = [i for i in decoded if i < 200 - 32 - 1]  # displayed before the clip
    within = [i for i in decoded if i >= 200 - 32]  # the clip samples every second frame of these
    assert 0 in decoded and len(before) <= 0.8 * (200 - 32)  # B-frames skipped (a quarter here)
    assert set(range(200 - 32, 200 + 32, 2)) <= set(within)  # every sampled frame was decoded
    assert len(within) < 64  # and some of the frames between them were not


def test_long_gaps_between_frames_fall_back_to_full_decoding(tmp_path):
    # frames at 0.00, 0.04, ... then a 2 s gap: the frame on screen at 2.5 s was shown at 0.36 s
    times = np.concatenate([np.arange(10) * 0.04, 2.4 + np.arange(10) * 0.04])
    video = write_mp4(
        tmp_path / "gap.mp4",
        [numbered_frame(i) for i in range(20)],
        30,
        times=times,
        gop=30,
        bframes=3,
    )
    src = PyAVVideoSource(video, cache=pv.VideoCache(0))
    assert _numbers(src.read_times([1.5, 2.39, 2.41, 2.5])) == [9, 9, 10, 12]
    assert _numbers(src.read_times([0.0, 0.05])) == [0, 1]


def test_cache_bounds(tmp_path, long_gop):
    other = write_mp4(
        tmp_path / "b.mp4", [numbered_frame(i, 96, 128) for i in range(60)], 30, gop=12
    )
    third = write_mp4(
        tmp_path / "c.mp4", [numbered_frame(i, 96, 128) for i in range(60)], 30, gop=12
    )
    cache = pv.VideoCache(max_videos=2, max_bytes=40 * 96 * 128 * 3)
    for path in (long_gop, other, third):
        assert _numbers(PyAVVideoSource(path, cache=cache).read_times([1.0])) == [30]
    assert cache.open_paths() == [other, third]  # least recently used closed
    sample_clip(PyAVVideoSource(long_gop, cache=cache), 5.0, 32, 2, 30)
    assert sum(v.nbytes for v in cache._videos.values()) <= cache.max_bytes
    assert (
        _clip(PyAVVideoSource(long_gop, cache=cache), 160) == clip_indices(160, 32, 2, NUM).tolist()
    )
    cache.clear()
    assert not cache.open_paths()


def _child(path, queue):
    queue.put(_clip(PyAVVideoSource(path), 100))


def test_forked_child_opens_its_own_files(long_gop):
    pv.VIDEO_CACHE.clear()
    assert _clip(PyAVVideoSource(long_gop), 90) == clip_indices(90, 32, 2, NUM).tolist()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(long_gop, queue))
    proc.start()
    got = queue.get(timeout=60)
    proc.join(60)
    assert got == clip_indices(100, 32, 2, NUM).tolist()
    # the parent's open video is where it was: the next clip continues from it correctly
    assert _clip(PyAVVideoSource(long_gop), 120) == clip_indices(120, 32, 2, NUM).tolist()
    pv.VIDEO_CACHE.clear()


def test_continue_forward_or_seek(long_gop, tmp_path, monkeypatch):
    seeks = []
    real = pv._OpenVideo.seek
    monkeypatch.setattr(
        pv._OpenVideo, "seek", lambda self, t: seeks.append(round(t * 30)) or real(self, t)
    )
    cache = pv.VideoCache()
    src = PyAVVideoSource(long_gop, cache=cache)
    # key frame every 250 frames: overlapping and nearby clips continue, only the first one seeks
    for center in (60, 90, 120, 200):
        assert _clip(src, center) == clip_indices(center, 32, 2, NUM).tolist()
    assert seeks == [28]
    # key frame every 12 frames (learnt while decoding): a clip 2 s on seeks to the key frame before it
    short = write_mp4(
        tmp_path / "g12.mp4", [numbered_frame(i, 96, 128) for i in range(NUM)], 30, gop=12
    )
    src = PyAVVideoSource(short, cache=cache)
    seeks.clear()
    for center in (60, 70, 150):
        assert _clip(src, center) == clip_indices(center, 32, 2, NUM).tolist()
    assert seeks == [28, 118]
    cache.clear()


def test_two_runs_in_one_video_keep_a_position_each(long_gop, monkeypatch):
    """A worker reading two runs of consecutive keyframes in turn, both in one video: with
    per_video 2 each run continues its own copy (two seeks in all); with one copy every step back
    to the earlier run seeks (a step forward to the later one may decode on instead). The frames
    are those of a fresh read either way."""
    seeks = []
    real = pv._OpenVideo.seek
    monkeypatch.setattr(
        pv._OpenVideo, "seek", lambda self, t: seeks.append(round(t * 30)) or real(self, t)
    )
    turns = [c for pair in zip(range(40, 100, 10), range(200, 260, 10)) for c in pair]
    expected = [clip_indices(c, 32, 2, NUM).tolist() for c in turns]
    for per_video in (1, 2):
        cache = pv.VideoCache(max_videos=2, per_video=per_video)
        seeks.clear()
        assert [_clip(PyAVVideoSource(long_gop, cache=cache), c) for c in turns] == expected
        if per_video == 1:
            back = [t - 32 for t in turns[::2]]  # each clip of the earlier run starts there
            assert [s for s in seeks if s < 150] == back, seeks
        else:
            assert seeks == [turns[0] - 32, turns[1] - 32]
        assert cache.open_paths() == [long_gop] * min(per_video, 2)
        cache.clear()


def test_a_copy_idle_for_a_turn_is_reused_not_reopened(long_gop, tmp_path, monkeypatch):
    """per_video 2: a run that ends and a new one in the same video reposition the idle copy (no
    third file open), with another video's run in between and a header probe before each read."""
    opened = []
    real = pv._OpenVideo.__init__
    monkeypatch.setattr(
        pv._OpenVideo, "__init__", lambda self, path: opened.append(path) or real(self, path)
    )
    other = write_mp4(
        tmp_path / "o.mp4", [numbered_frame(i, 96, 128) for i in range(NUM)], 30, gop=30
    )
    cache = pv.VideoCache(max_videos=2, per_video=2)
    # lane 1 reads long_gop, lane 2 reads `other`; then lane 1's next run is long_gop again
    for path, center in [(long_gop, 40), (other, 40), (long_gop, 50), (other, 50), (long_gop, 220)]:
        src = PyAVVideoSource(path, cache=cache)
        assert src.duration == NUM / 30  # a header probe first, as a mapper's: no copy for it
        assert _clip(src, center) == clip_indices(center, 32, 2, NUM).tolist()
    assert opened == [long_gop, other]
    cache.clear()
