"""Kinetics lists and test views: clip starts and crop positions computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from ava_detector.data.errors import InputFileError
from ava_detector.kinetics.data.lists import parse_kinetics_list
from ava_detector.kinetics.data.register import register_kinetics
from ava_detector.kinetics.data.views import (
    UniformCrop,
    clip_span,
    expand_test_views,
    uniform_crop_offset,
    view_clip_start,
)


def test_list_lines_become_records_with_prefix():
    lines = ["a/x.mp4 3\n", "\n", "b y.mp4,7\n", "c.mp4\t0"]
    recs = parse_kinetics_list(lines, "l.csv", prefix="/root")
    assert [r["video_id"] for r in recs] == ["a/x.mp4", "b y.mp4", "c.mp4"]
    assert [r["label"] for r in recs] == [3, 7, 0]
    assert recs[0]["video_path"] == "/root/a/x.mp4" and recs[0]["source"] == "video"


@pytest.mark.parametrize(
    "line, problem",
    [("x.mp4", "expected 'path label'"), ("x.mp4 cat", "integer"), ("x.mp4 5", "outside")],
)
def test_bad_list_lines_name_file_and_line(line, problem):
    with pytest.raises(InputFileError, match=f"l.csv:2: .*{problem}"):
        parse_kinetics_list(["ok.mp4 1", line], "l.csv", num_classes=5)


def test_duplicate_video_is_an_error():
    with pytest.raises(InputFileError, match="l.csv:2: .*already listed on line 1"):
        parse_kinetics_list(["v.mp4 1", "v.mp4 2"], "l.csv")


def test_registration_reads_lazily_and_names_classes(tmp_path):
    (tmp_path / "train.csv").write_text("v/a.mp4 1\nv/b.mp4 0\n")
    (tmp_path / "classes.json").write_text('["walk", "run"]')
    register_kinetics(
        "kinetics_test_tmp", tmp_path / "train.csv", classes_file=tmp_path / "classes.json"
    )
    assert MetadataCatalog.get("kinetics_test_tmp").evaluator_type == "kinetics"
    recs = DatasetCatalog.get("kinetics_test_tmp")
    assert recs[0]["video_path"] == str(tmp_path / "v/a.mp4")
    assert MetadataCatalog.get("kinetics_test_tmp").class_names == ["walk", "run"]


def test_view_clip_starts_by_hand():
    # 32x2 at 30 fps spans 64/30 s; a 10 s video leaves 10 - 64/30 = 7.8667 s of room.
    span = clip_span(32, 2, 30)
    assert span == pytest.approx(64 / 30)
    starts = [view_clip_start(10.0, span, k, 10) for k in range(10)]
    assert starts == pytest.approx([k * (10 - 64 / 30) / 10 for k in range(10)])
    assert starts[1] == pytest.approx(0.786667, abs=1e-6)
    assert view_clip_start(1.0, span, 9, 10) == 0.0  # shorter than the clip: all start at 0


def test_crop_positions_by_hand():
    # landscape 256 x 341: left, centre (ceil(85 / 2) = 43), right (85)
    assert [uniform_crop_offset(256, 341, 256, k, 3) for k in range(3)] == [
        (0, 0),
        (0, 43),
        (0, 85),
    ]
    # portrait 300 x 256: top, centre (22), bottom (44)
    assert [uniform_crop_offset(300, 256, 256, k, 3) for k in range(3)] == [
        (0, 0),
        (22, 0),
        (44, 0),
    ]
    # one crop: centred; short side centred too
    assert uniform_crop_offset(260, 341, 256, 0, 1) == (2, 43)


def test_uniform_crop_cuts_the_expected_pixels():
    img = np.arange(10 * 16).reshape(10, 16, 1).astype(np.uint8)
    tfm = UniformCrop(10, 2, 3).get_transform(img)
    assert np.array_equal(tfm.apply_image(img), img[:, 6:16])


def test_expand_test_views():
    views = expand_test_views([{"video_id": "a"}, {"video_id": "b"}], num_clips=2, num_crops=3)
    assert len(views) == 12
    assert [(v["clip_index"], v["crop_index"]) for v in views[:6]] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    assert views[7]["video_id"] == "b" and views[7]["view"] == 1 and views[7]["num_views"] == 6
