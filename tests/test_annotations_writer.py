"""The AVA layout writer: keyframe times and how they are written, the split, the label map, the
atomic write (nothing on error), and the project's own loader reading the result."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from ava_detector.ava.annotations.ava_writer import (
    build_ava_tables,
    format_sec,
    keyframe_times,
    label_map_text,
    parse_rate,
    split_videos,
    write_ava_dataset,
)
from ava_detector.ava.annotations.tracks import (
    FrameBox,
    VideoAnnotations,
    make_track,
)
from ava_detector.ava.data.label_map import parse_label_map
from ava_detector.data.errors import InputFileError


@pytest.mark.parametrize(
    "t, text",
    [
        (Fraction(3), "0003"),
        (Fraction(902), "0902"),
        (Fraction(12345), "12345"),
        (Fraction(5, 2), "0002.5"),
        (Fraction(1, 4), "0000.25"),
        (Fraction(1, 3), "0000.333333"),
        (Fraction(2, 3), "0000.666667"),
        (Fraction(7, 8), "0000.875"),
    ],
)
def test_seconds_are_fractional_only_when_the_rate_makes_them(t, text):
    assert format_sec(t) == text


def test_keyframe_times_and_rates():
    assert keyframe_times(0, 29, 10, Fraction(1)) == ["0000", "0001", "0002"]
    assert keyframe_times(0, 29, 10, parse_rate("0.5")) == ["0000", "0002"]
    assert keyframe_times(5, 15, 10, parse_rate("2")) == ["0000.5", "0001", "0001.5"]
    assert keyframe_times(0, 15, 30, parse_rate("3")) == ["0000", "0000.333333"]  # frames 0, 10
    assert parse_rate("1/3") == Fraction(1, 3)
    for bad in ("0", "-1", "x"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def video(vid="v", fps=10.0, annotated=(0, 20), skip=frozenset(), size=(100, 50)):
    track = make_track(
        4,
        [
            [
                FrameBox(0, (0.1, 0.2, 0.3, 0.4), frozenset({"b", "a"})),
                FrameBox(10, (0.3, 0.2, 0.5, 0.4), frozenset()),
            ],
            [FrameBox(20, (-0.1, 0.5, 0.2, 1.2), frozenset({"c"}))],
        ],
    )
    return VideoAnnotations(vid, fps, 21, size[0], size[1], (track,), frozenset(skip), annotated)


def test_rows_counts_classes_order_and_clipping():
    t = build_ava_tables([video()], Fraction(2), classes=["c", "a"])
    assert t.classes == ["c", "a"]
    assert t.rows["v"] == [
        "v,0000,0.1000,0.2000,0.3000,0.4000,2,4",  # "b" is not a class: left out
        "v,0000.5,0.2000,0.2000,0.4000,0.4000,2,4",  # interpolated, actions of frame 0
        "v,0001",  # the box has no action: the keyframe is annotated and empty
        "v,0001.5",
        "v,0002,0.0000,0.5000,0.2000,1.0000,1,4",  # clipped to [0, 1]
    ]
    assert t.left_out_actions == {"b"}
    assert t.counts == {
        "person boxes": 3,
        "person boxes without an action (not written)": 1,
        "keyframes without a person": 2,
    }
    assert t.secs["v"] == ("0000", "0002")


def test_split_by_ratio_seed_or_names():
    ids = ["d", "a", "c", "b"]
    s = split_videos(ids, val_ratio=0.5, seed=3)
    assert sorted(s) == ["a", "b", "c", "d"] and list(s.values()).count("val") == 2
    assert split_videos(ids, val_ratio=0.5, seed=3) == s
    assert list(split_videos(ids, val_ratio=0.1).values()).count("val") == 1  # at least one
    assert split_videos(ids, val_videos=["c"]) == {
        "a": "train",
        "b": "train",
        "c": "val",
        "d": "train",
    }
    assert split_videos(["only"], val_ratio=0.2) == {"only": "train"}
    with pytest.raises(ValueError, match=r"not imported: \['x'\]"):
        split_videos(ids, val_videos=["x"])


def test_label_map_reads_back_and_rejects_quotes():
    lm = parse_label_map(label_map_text(["hand wave", "sit"]))
    assert lm.names == {1: "hand wave", 2: "sit"}
    with pytest.raises(ValueError, match="cannot be written"):
        label_map_text(['say "hi"'])


def test_layout_files_and_dataset_json(tmp_path):
    v = video(skip={10})
    tables = build_ava_tables([v, video("w", annotated=(0, 0))], Fraction(1))
    out = tmp_path / "ds"
    summary = write_ava_dataset(
        out, [v, video("w", annotated=(0, 0))], tables, {"v": "train", "w": "val"}, rate=Fraction(1)
    )
    ann = out / "annotations"
    assert (ann / "ava_train_v2.2.csv").read_text() == (
        "v,0000,0.1000,0.2000,0.3000,0.4000,1,4\nv,0000,0.1000,0.2000,0.3000,0.4000,2,4\n"
        "v,0002,0.0000,0.5000,0.2000,1.0000,3,4\n"
    )
    assert (ann / "ava_train_excluded_timestamps_v2.2.csv").read_text() == "v,0001\n"
    assert (ann / "ava_val_v2.2.csv").read_text().splitlines()[
        0
    ] == "w,0000,0.1000,0.2000,0.3000,0.4000,1,4"
    info = json.loads((out / "dataset.json").read_text())
    assert (info["start_sec"], info["fps"], info["keyframe_secs"], info["keyframe_rate"]) == (
        0,
        10.0,
        [0, 2],
        1,
    )
    assert (info["width"], info["height"]) == (100, 50) and info["classes"] == ["a", "b", "c"]
    assert info["videos"]["v"]["annotated_frames"] == [0, 20]
    assert summary["splits"]["train"] == {"videos": 1, "keyframes": 2, "rows": 3, "excluded": 1}
    assert not (tmp_path / "ds.tmp").exists()


def test_nothing_is_written_on_error(tmp_path):
    v = video()
    tables = build_ava_tables([v], Fraction(1))
    out = tmp_path / "ds"
    with pytest.raises(InputFileError, match="no extracted frames for video 'v'"):
        write_ava_dataset(
            out, [v], tables, {"v": "train"}, rate=Fraction(1), frames_dir=tmp_path / "none"
        )
    assert not out.exists() and not (tmp_path / "ds.tmp").exists()
    out.mkdir()
    (out / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        write_ava_dataset(out, [v], tables, {"v": "train"}, rate=Fraction(1))
    assert [p.name for p in out.iterdir()] == ["keep"]
    with pytest.raises(ValueError, match="different frame rates"):
        write_ava_dataset(
            tmp_path / "x",
            [v, video("w", fps=25)],
            build_ava_tables([v, video("w", fps=25)], Fraction(1)),
            {"v": "train", "w": "val"},
            rate=Fraction(1),
        )
    assert not (tmp_path / "x").exists()


def test_the_project_loader_reads_the_result(tmp_path):
    from ava_detector.ava.data.register import (
        ava_layout,
        load_ava_records,
    )

    frames = tmp_path / "frames_src" / "v"
    frames.mkdir(parents=True)
    for i in range(21):
        (frames / f"v_{i + 1:06d}.jpg").write_bytes(b"")
    v = video()
    write_ava_dataset(
        tmp_path / "ds",
        [v],
        build_ava_tables([v], Fraction(1)),
        {"v": "train"},
        rate=Fraction(1),
        frames_dir=tmp_path / "frames_src",
    )
    records = load_ava_records(ava_layout(tmp_path / "ds", "train"), start_sec=None, fps=None)
    assert [(r["sec"], r["keyframe_index"], len(r["boxes"])) for r in records] == [
        (0, 0, 1),
        (1, 10, 0),
        (2, 20, 1),
    ]
    assert records[0]["labels"][0, :3].tolist() == [1, 1, 0]
    assert records[0]["frames"][20].endswith("frames/v/v_000021.jpg")
    assert (records[0]["width"], records[0]["height"]) == (100, 50)
