"""The training encoding of videos: the resampling rule by hand, where the key frames and reference
frames land, what the video source decodes from it, the prepare_ava cut, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import grey_video, load_script

from ava_detector.ava.data.prep import cut_video, ffmpeg_cut_command, output_frame_sources
from ava_detector.data.errors import InputFileError
from ava_detector.data.video import pyav_source
from ava_detector.data.video.synthetic import natural_frames
from ava_detector.data.video.transcode import (
    ClipEncoding,
    ffmpeg_transcode_args,
    resample_nearest,
    transcode,
)
from ava_detector.utils.video_writer import write_mp4

REPO = Path(__file__).resolve().parents[1]


def _levels(path):
    with av.open(str(path)) as c:
        return [
            int(round((f.to_ndarray(format="gray").mean() - 20) / 4)) for f in c.decode(video=0)
        ]


def _structure(path):
    """(frame rate, key frame indices, indices of the reference frames) of a constant-rate video:
    the frames a decoder skipping unreferenced ones still outputs are the references."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate
        keys = [
            round((p.pts - (s.start_time or 0)) * s.time_base * rate)
            for p in c.demux(s)
            if p.pts is not None and p.is_keyframe
        ]
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.skip_frame = "NONREF"
        refs = [round((f.pts - (s.start_time or 0)) * s.time_base * rate) for f in c.decode(s)]
    return rate, keys, sorted(refs)


def test_resample_nearest_by_hand():
    # 25 fps -> 30 fps: output j shows the last input k with k/25 < (j + 0.5)/30
    inputs = [(k / 25, k) for k in range(50)]
    assert list(resample_nearest(inputs, 30, 7)) == [0, 1, 2, 2, 3, 4, 5]
    assert (
        list(resample_nearest(inputs, 30))
        == output_frame_sources(np.arange(50) / 25, 30, 60).tolist()
    )
    # 60 -> 30 keeps every other frame; 10 -> 30 shows each three times
    assert list(resample_nearest([(k / 60, k) for k in range(6)], 30)) == [0, 2, 4]
    assert list(resample_nearest([(k / 10, k) for k in range(2)], 30)) == [0, 0, 0, 1, 1, 1]
    # a first frame after the first output's edge is shown until it starts
    assert list(resample_nearest([(0.05, "a"), (0.1, "b")], 30, 4)) == ["a", "a", "a", "b"]
    assert list(resample_nearest([], 30)) == []

    def endless():
        k = 0
        while True:
            yield k / 30, k
            k += 1

    assert list(resample_nearest(endless(), 30, 5)) == [0, 1, 2, 3, 4]  # stops reading


def test_clip_encoding_key_frames_and_ffmpeg_expression():
    enc = ClipEncoding()
    # a 64-frame clip around frame 30k starts at 30k - 32 = 28 (mod 30)
    assert enc.key_offset == 28
    assert [n for n in range(100) if enc.is_key(n)] == [0, 28, 58, 88]
    assert ClipEncoding(clip_span=0).key_offset == 0
    assert ClipEncoding(key_interval=25, clip_span=32, fps=25).key_offset == 9
    args = ffmpeg_transcode_args(enc)
    assert args[:2] == ["-r", "30"]
    expr = args[args.index("-force_key_frames") + 1]
    assert expr == "expr:eq(mod(n+2,30),0)"
    shift = 2  # what the expression forces, evaluated as ffmpeg would
    assert [n for n in range(1, 100) if (n + shift) % 30 == 0] == [28, 58, 88]
    assert "keyint=30:min-keyint=30:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none" in args
    assert args[args.index("-tune") + 1] == "fastdecode"
    cut = ffmpeg_cut_command("m.mkv", "c.mp4", 900, 901, gop=250, encoding=enc)
    assert "-g" not in cut and cut[-4:] == ["-an", "-f", "mp4", "c.mp4"]
    for bad in (dict(fps=0), dict(key_interval=0), dict(clip_span=-1), dict(bframes=-1)):
        with pytest.raises(ValueError):
            ClipEncoding(**bad)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """6 s of natural-looking 160x96 footage at 30 fps, x264 defaults (key frame every 250)."""
    root = tmp_path_factory.mktemp("footage")
    frames = list(natural_frames(180, 96, 160, seed=3))
    path = write_mp4(root / "src.mp4", frames, 30, crf=18, gop=250, bframes=3)
    return root, frames, path


def _expected_refs(keys, n):
    """x264 with 3 fixed B-frames: every 4th frame from a key frame is a reference, and so is the
    frame before a key frame (no B-frame can wait for a reference across it)."""
    refs = set()
    bounds = [*keys, n]
    for k, nxt in zip(bounds[:-1], bounds[1:]):
        refs.update(range(k, nxt, 4))
        refs.add(nxt - 1)
    return sorted(refs)


def test_transcode_places_key_and_reference_frames(footage):
    root, frames, src = footage
    out = transcode(src, root / "train.mp4", ClipEncoding())
    rate, keys, refs = _structure(out)
    assert rate == 30 and keys == [0, 28, 58, 88, 118, 148, 178]
    assert refs == _expected_refs(keys, 180)
    with av.open(str(out)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 180
    mse = np.mean([np.mean((a.astype(np.float64) - b) ** 2) for a, b in zip(decoded, frames)])
    assert 10 * np.log10(255**2 / mse) > 30  # the source's quality, twice encoded


def test_video_source_decodes_only_the_clip_from_the_training_encoding(footage, monkeypatch):
    root, _, src = footage
    out = transcode(src, root / "train_src.mp4", ClipEncoding())
    with av.open(str(out)) as c:
        full = [
            cv2.cvtColor(f.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
            for f in c.decode(video=0)
        ]
    decoded = [0]
    next_entry = pyav_source._OpenVideo.next_entry

    def counting(self):
        entry = next_entry(self)
        decoded[0] += entry is not None
        return entry

    monkeypatch.setattr(pyav_source._OpenVideo, "next_entry", counting)
    for path, most in ((out, 35), (src, None)):
        source = pyav_source.PyAVVideoSource(str(path), cache=pyav_source.VideoCache(0))
        for sec in (2, 4, 3):
            decoded[0] = 0
            clip = source.read_clip(float(sec), 32, 2, 30)
            if most is None:  # x264's defaults: from the key frame at 0, every reference frame
                assert decoded[0] > 45
                continue
            # seek to the clip's first frame (a key frame), its 32 frames, the 2 references
            # before the next key frames, one read ahead
            assert decoded[0] <= most
            idx = 30 * sec - 32 + 2 * np.arange(32)
            assert all(np.array_equal(clip[i], full[j]) for i, j in enumerate(idx))


def test_transcode_resamples_and_cuts(tmp_path):
    grey_video(tmp_path / "m25.mp4", 50, 25)  # 2 s at 25 fps
    out = transcode(tmp_path / "m25.mp4", tmp_path / "a.mp4", ClipEncoding(key_interval=10))
    assert _levels(out) == output_frame_sources(np.arange(50) / 25, 30, 60).tolist()
    grey_video(tmp_path / "m10.mp4", 40, 10)  # 4 s at 10 fps
    cut = cut_video(
        tmp_path / "m10.mp4",
        tmp_path / "cut.mp4",
        start=1,
        length=2,
        use_ffmpeg=False,
        encoding=ClipEncoding(key_interval=10),
    )
    assert _levels(cut) == [k for k in range(10, 30) for _ in range(3)]
    plain = cut_video(tmp_path / "m10.mp4", tmp_path / "plain.mp4", 1, 2, use_ffmpeg=False)
    assert _levels(plain) == list(range(10, 30))  # the reference cut keeps the source's rate


def test_odd_sizes_are_scaled_to_even_ones(tmp_path):
    """4:2:0 needs even sizes: a 33x21 video (full-chroma) comes out 32x20, the same picture."""
    frames = [np.full((21, 33, 3), 40 + 10 * k, np.uint8) for k in range(12)]
    src = write_mp4(tmp_path / "odd.mp4", frames, 30, crf=0, pix_fmt="yuv444p")
    out = transcode(src, tmp_path / "even.mp4", ClipEncoding(key_interval=4))
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert [g.shape for g in got] == [(20, 32, 3)] * 12
    levels = np.array([g.mean() for g in got])
    assert np.abs(levels - (40 + 10 * np.arange(12))).max() < 1.5  # crf 18, limited range


def test_transcode_bad_input_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputFileError, match="bad.mp4"):
        transcode(bad, tmp_path / "out" / "x.mp4", ClipEncoding())
    grey_video(tmp_path / "short.mp4", 10, 10)
    with pytest.raises(InputFileError, match="short.mp4.*no frames from 5 s"):
        transcode(tmp_path / "short.mp4", tmp_path / "out" / "y.mp4", ClipEncoding(), start=5)
    assert not list((tmp_path / "out").iterdir())  # no output, no temporary file


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on the PATH")
def test_ffmpeg_cut_gives_the_same_structure(footage):
    root, _, src = footage
    out = cut_video(src, root / "ff.mp4", 0, 6, use_ffmpeg=True, encoding=ClipEncoding())
    rate, keys, refs = _structure(out)
    assert rate == 30 and keys == [0, 28, 58, 88, 118, 148, 178]
    assert refs == _expected_refs(keys, 180)


def test_prepare_ava_cuts_for_training(tmp_path):
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "ava_train_v2.2.csv").write_text("m1,0902,0.1,0.1,0.5,0.5,12,0\n")
    (tmp_path / "movies").mkdir()
    grey_video(tmp_path / "movies" / "m1.mp4", 40, 10)
    cmd = [sys.executable, str(REPO / "data_prep" / "prepare_ava.py"), "all"]
    args = ["--movies", str(tmp_path / "movies"), "--root", str(root), "--no-ffmpeg"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [*cmd, *args, "--start", "1", "--length", "2", "--gop", "10"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    video = root / "videos" / "m1.mp4"
    assert _levels(video) == [k for k in range(10, 30) for _ in range(3)]
    rate, keys, _ = _structure(video)
    # 64-frame clips around multiples of 10 frames start at 8 (mod 10)
    assert rate == 30 and keys == [0, 8, 18, 28, 38, 48, 58]
    assert len(list((root / "frames" / "m1").glob("m1_*.jpg"))) == 60  # -r 30 keeps every frame
    assert "train: 60 frames" in run.stdout
    bad = subprocess.run([*cmd, *args, "--gop", "0"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "key_interval >= 1" in bad.stderr


def test_transcode_videos_tool_goes_on_past_a_bad_video(tmp_path, capsys):
    tool = load_script("data_prep/transcode_videos.py")
    (tmp_path / "in").mkdir()
    grey_video(tmp_path / "in" / "good.mp4", 20, 10)
    (tmp_path / "in" / "bad.mp4").write_bytes(b"\x00" * 500)
    (tmp_path / "in" / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    assert tool.main([str(tmp_path / "in"), "--out", str(out), "--gop", "10"]) == 1
    err = capsys.readouterr().err
    assert "bad.mp4" in err and "good.mp4" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4"]  # nothing half-written
    assert _levels(out / "good.mp4") == [k for k in range(20) for _ in range(3)]
    assert tool.main([str(tmp_path / "in" / "good.mp4"), "--out", str(out)]) == 0
    assert "1 of 1 already in" in capsys.readouterr().out
    for bad_args in (["--gop", "0"], ["--clip-span", "-2"]):
        with pytest.raises(SystemExit) as e:
            tool.main([str(tmp_path / "in"), "--out", str(out), *bad_args])
        assert e.value.code == 2
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / "missing"), "--out", str(out)])
    assert "missing: no such file or folder" in capsys.readouterr().err


def test_an_ffmpeg_failure_names_the_movie_and_leaves_nothing(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'ffmpeg version n7'\necho \"Unknown encoder 'libx264'\" >&2\nexit 8\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    grey_video(tmp_path / "movie.mp4", 10, 10)
    (tmp_path / "out").mkdir()
    with pytest.raises(
        InputFileError, match=r"movie.mp4: ffmpeg failed \(exit 8\): Unknown encoder"
    ):
        cut_video(
            tmp_path / "movie.mp4", tmp_path / "out" / "cut.mp4", 0, 1, encoding=ClipEncoding()
        )
    assert not list((tmp_path / "out").iterdir())


def test_prepare_ava_reports_a_bad_movie_and_goes_on(tmp_path, capsys):
    root = tmp_path / "ava"
    (root / "annotations").mkdir(parents=True)
    rows = "m1,0902,0.1,0.1,0.5,0.5,12,0\nm2,0902,0.1,0.1,0.5,0.5,12,0\n"
    (root / "annotations" / "ava_train_v2.2.csv").write_text(rows)
    (tmp_path / "movies").mkdir()
    grey_video(tmp_path / "movies" / "m1.mp4", 40, 10)
    (tmp_path / "movies" / "m2.mp4").write_bytes(b"\x00" * 300)
    tool = load_script("data_prep/prepare_ava.py")
    args = ["--movies", str(tmp_path / "movies"), "--root", str(root), "--no-ffmpeg"]
    assert tool.main(["all", *args, "--start", "1", "--length", "2", "--gop", "10"]) == 1
    err = capsys.readouterr().err
    assert "m2.mp4" in err and "1 failed" in err and "m1.mp4" not in err
    assert sorted(p.name for p in (root / "videos").iterdir()) == ["m1.mp4"]
    assert sorted(p.name for p in (root / "frames").iterdir()) == ["m1"]
    assert not (root / "frame_lists").exists()  # not written from an incomplete set
