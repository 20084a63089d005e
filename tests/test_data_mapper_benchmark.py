"""``tools/benchmark.py data`` runs end to end on a tiny generated set and reports both sources, the
decode-only floor and the targets; ``--pyslowfast`` names a checkout without PySlowFast in it."""

from __future__ import annotations

import argparse

import av
import pytest
from conftest import load_tool

from ava_detector.benchmarks import data as bench
from ava_detector.benchmarks import pyslowfast_ava


def _args(*argv):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_data_benchmark_prints_both_sources_and_the_floor(capsys):
    args = _args(
        "--records",
        "2",
        "--rounds",
        "1",
        "--videos",
        "1",
        "--seconds",
        "4",
        "--size",
        "120",
        "160",
        "--gop",
        "30",
        "--mode",
        "test",
        "INPUT.NUM_FRAMES",
        "8",
    )
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:3] for line in lines[1:]}
    assert rows == {
        ("frames", "test", "8x2"),
        ("video", "test", "8x2"),
        ("video, training cut", "test", "8x2"),
        ("floor", "test", "8x2"),
        ("video floor", "test", "8x2"),
    }
    assert all(float(line.strip("|").split("|")[3]) > 0 for line in lines[1:])
    assert "frames clip time / decode-only floor" in out and "x264" in out


def test_train_mode_times_runs_of_consecutive_keyframes(capsys):
    args = _args(
        *("--records", "2", "--rounds", "1", "--videos", "1", "--seconds", "6"),
        *("--size", "120", "160", "--gop", "30", "--mode", "train", "--runs", "2", "--lanes", "2"),
        *("INPUT.NUM_FRAMES", "8", "INPUT.TRAIN_JITTER_SCALES", "(112, 128)"),
        *("INPUT.TRAIN_CROP_SIZE", "96"),
    )
    assert bench.run(args) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    names = {line.strip("|").split("|")[0].strip() for line in lines[1:]}
    assert names == {
        "frames",
        "frames, resized grid",
        "video",
        "video, training cut",
        "video, runs of 2",
        "video, runs of 2 over batches of 2",
        "video, runs of 2 over batches of 2, one copy a file",
        "floor",
        "video floor",
    }


def test_generated_set_is_realistic(tmp_path):
    records, what = bench.realistic_records(tmp_path, videos=1, seconds=4, size=(360, 640), gop=250)
    assert [r["sec"] for r in records] == [2]  # keyframes a clip's half-length from both ends
    sizes = [
        (tmp_path / "frames" / "nat00" / f"nat00_{i:06d}.jpg").stat().st_size for i in (1, 60, 120)
    ]
    assert all(25_000 < s < 70_000 for s in sizes), (
        sizes
    )  # ~40 KB, not a trivially compressible image
    assert len(records[0]["frames"]) == 120 and records[0]["keyframe_index"] == 60
    assert "gop 250" in what and "training cut" in what
    with av.open(records[0]["cut_video_path"]) as c:  # as prepare_ava's cut writes it
        s = c.streams.video[0]
        keys = [p.pts * s.time_base * 30 for p in c.demux(s) if p.pts is not None and p.is_keyframe]
    assert keys == [0, 28, 58, 88, 118]


def test_pyslowfast_path_must_be_a_checkout(tmp_path):
    with pytest.raises(SystemExit, match="ava_dataset.py"):
        pyslowfast_ava.load_pyslowfast(tmp_path)


def test_benchmark_tool_lists_the_subcommands_not_the_helpers(capsys):
    with pytest.raises(SystemExit):
        load_tool("benchmark").main(["--help"])
    out = capsys.readouterr().out
    assert "{data,encodings,eval,feed,model,scale,train}" in out
    assert "pyslowfast_ava" not in out and "realistic_set" not in out


def test_encodings_benchmark_shows_what_each_part_saves(capsys):
    from ava_detector.benchmarks import encodings

    parser = argparse.ArgumentParser()
    encodings.add_arguments(parser)
    assert (
        encodings.run(parser.parse_args(["--seconds", "5", "--size", "96", "160", "--rounds", "1"]))
        == 0
    )
    rows = {
        cells[0]: cells[1:]
        for line in capsys.readouterr().out.splitlines()[3:]
        if (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    assert list(rows) == [name for name, _ in encodings.VARIANTS]
    decoded = {name: float(r[2]) for name, r in rows.items()}
    # from the key frame at 0 every reference frame up to the clip; from the training encoding the
    # clip's 32 frames, the 2 references before the next key frames and one read ahead
    assert decoded["x264 defaults (key frame every 250, 3 B-frames)"] > 60
    assert decoded["training encoding (3 B, fastdecode)"] == 35
