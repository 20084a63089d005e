"""VIA 3 import: rectangles [2, x, y, w, h] at times z, checkbox option lists (string and list
forms), select values, person ids from a text attribute, skip options, and errors naming the path."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from ava_detector.ava.annotations.ava_writer import build_ava_tables
from ava_detector.ava.annotations.mapping import ActionMapping
from ava_detector.ava.annotations.via import parse_via3
from ava_detector.data.errors import InputFileError

ATTRS = {
    "1": {
        "aname": "action",
        "anchor_id": "FILE1_Z1_XY1",
        "type": 2,
        "desc": "",
        "options": {"0": "walk", "1": "wave", "2": "skip"},
        "default_option_id": "",
    },
    "2": {
        "aname": "pid",
        "anchor_id": "FILE1_Z1_XY1",
        "type": 1,
        "desc": "",
        "options": {},
        "default_option_id": "",
    },
    "3": {
        "aname": "pose",
        "anchor_id": "FILE1_Z1_XY1",
        "type": 4,
        "desc": "",
        "options": {"a": "sit", "b": "stand"},
        "default_option_id": "",
    },
}


def project(metadata: dict) -> bytes:
    return json.dumps(
        {
            "project": {"pid": "__VIA_PROJECT_ID__", "pname": "p", "vid_list": ["1"]},
            "config": {},
            "attribute": ATTRS,
            "file": {
                "1": {"fid": "1", "fname": "videos/clip_v.mp4", "type": 4, "loc": 1, "src": ""}
            },
            "view": {"1": {"fid_list": ["1"]}},
            "metadata": metadata,
        }
    ).encode()


META = {
    "1_a": {
        "vid": "1",
        "flg": 0,
        "z": [1.0],
        "xy": [2, 20, 10, 40, 80],
        "av": {"1": "0,1", "2": "5", "3": "b"},
    },
    "1_b": {"vid": "1", "flg": 0, "z": [2.04], "xy": [2, 0, 0, 100, 50], "av": {"1": ["0"]}},
    "1_c": {"vid": "1", "flg": 0, "z": [3.0], "xy": [2, 0, 0, 10, 10], "av": {"1": "2"}},
    "1_d": {"vid": "1", "flg": 0, "z": [1.0, 2.0], "xy": [], "av": {}},
    "1_e": {"vid": "1", "flg": 0, "z": [1.0], "xy": [7, 1, 2, 3], "av": {}},
}


def test_boxes_actions_person_ids_and_skips():
    mapping = ActionMapping(skip="skip", track_attribute="pid")
    r = parse_via3(project(META), "p.json", mapping=mapping, fps=10, width=200, height=100)
    (v,) = r.videos
    assert v.video_id == "clip_v" and v.annotated is None
    assert [t.track_id for t in v.tracks] == [5, 6]
    ((a,),) = v.tracks[0].spans
    assert (
        a.frame == 10 and a.box == (0.1, 0.1, 0.3, 0.9) and a.actions == {"walk", "wave", "stand"}
    )
    ((b,),) = v.tracks[1].spans
    assert b.frame == 20 and b.box == (0.0, 0.0, 0.5, 0.5) and b.actions == {"walk"}  # round(20.4)
    assert v.skip_frames == {30}
    assert r.ignored == {"temporal segments": 1, "non-rectangle regions": 1}
    tables = build_ava_tables([v], Fraction(1))
    assert tables.classes == ["stand", "walk", "wave"]
    assert tables.rows["clip_v"] == [
        "clip_v,0001,0.1000,0.1000,0.3000,0.9000,1,5",
        "clip_v,0001,0.1000,0.1000,0.3000,0.9000,2,5",
        "clip_v,0001,0.1000,0.1000,0.3000,0.9000,3,5",
        "clip_v,0002,0.0000,0.0000,0.5000,0.5000,2,6",
    ]
    assert tables.exclusions["clip_v"] == ["clip_v,0003"]


def test_attribute_mapping_selects_and_renames_options():
    mapping = ActionMapping(attributes={"action": {"wave": "hand wave"}})
    (v,) = parse_via3(
        project({"1_a": META["1_a"]}), "p.json", mapping=mapping, fps=10, width=200, height=100
    ).videos
    assert v.tracks[0].spans[0][0].actions == {"hand wave"}


@pytest.mark.parametrize(
    "entry, where, problem",
    [
        (
            {"vid": "1", "z": [1.0], "xy": [2, 0, 0, 10], "av": {}},
            "metadata.m.xy",
            "a rectangle is [2, x, y, width, height], got [2, 0, 0, 10]",
        ),
        (
            {"vid": "1", "z": [1.0], "xy": [2, 0, 0, 10, 10], "av": {"1": "9"}},
            "metadata.m.av.1",
            "option id '9' is not an option of attribute 'action' (options: ['0', '1', '2'])",
        ),
        (
            {"vid": "1", "z": [1.0], "xy": [2, 0, 0, 10, 10], "av": {"8": "1"}},
            "metadata.m.av.8",
            "attribute '8' is not defined in the project",
        ),
        (
            {"vid": "2", "z": [1.0], "xy": [2, 0, 0, 10, 10], "av": {}},
            "metadata.m.vid",
            "view '2' is not in the project's views",
        ),
        (
            {"vid": "1", "z": ["a"], "xy": [2, 0, 0, 10, 10], "av": {}},
            "metadata.m.z[0]",
            "expected a time in seconds >= 0, got 'a'",
        ),
        (
            {"vid": "1", "z": [1.0], "xy": [2, 0, 0, 0, 10], "av": {}},
            "metadata.m.xy",
            "width and height must be positive, got 0 x 10",
        ),
    ],
)
def test_errors_name_the_json_path(entry, where, problem):
    with pytest.raises(InputFileError) as e:
        parse_via3(project({"m": entry}), "/v/p.json", fps=10, width=200, height=100)
    assert str(e.value) == f"/v/p.json: at {where}: {problem}"


def test_missing_rate_and_size_are_explained():
    with pytest.raises(
        InputFileError, match=r"^p.json: at \$: VIA projects do not record the frame rate"
    ):
        parse_via3(project(META), "p.json")
    with pytest.raises(
        InputFileError, match=r"'clip_v': VIA projects do not record the frame size"
    ):
        parse_via3(project(META), "p.json", fps=10)
