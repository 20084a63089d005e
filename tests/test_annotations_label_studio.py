"""Label Studio import: percent coordinates, keyframe interpolation checked against hand values,
disabled keyframes closing a span, the last enabled keyframe held to the end, per-region choices /
taxonomy, person ids from region meta, skip ranges, and errors naming the JSON path."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from ava_detector.ava.annotations.ava_writer import build_ava_tables
from ava_detector.ava.annotations.label_studio import parse_label_studio
from ava_detector.ava.annotations.mapping import ActionMapping
from ava_detector.ava.annotations.tracks import box_at
from ava_detector.data.errors import InputFileError


def kf(frame, x, y, w, h, enabled=True):
    return {
        "frame": frame,
        "enabled": enabled,
        "rotation": 0,
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "time": (frame - 1) / 25,
    }


def region(rid, sequence, labels, meta=None):
    r = {
        "id": rid,
        "type": "videorectangle",
        "from_name": "box",
        "to_name": "video",
        "origin": "manual",
        "value": {"framesCount": 100, "duration": 4.0, "sequence": sequence, "labels": labels},
    }
    if meta:
        r["meta"] = {"text": meta}
    return r


A = region(
    "regA",
    [
        kf(1, 10, 20, 30, 40),
        kf(11, 20, 20, 40, 40),
        kf(21, 20, 30, 40, 40, enabled=False),
        kf(51, 0, 0, 10, 10),
    ],
    ["person", "walk"],
)
B = region(
    "regB",
    [kf(5, 50, 50, 10, 10), kf(6, 50, 50, 10, 10, enabled=False)],
    ["person"],
    meta=["person_id=7"],
)
EXTRA = [
    {
        "id": "regA",
        "type": "choices",
        "from_name": "act",
        "to_name": "video",
        "value": {"choices": ["talk"]},
    },
    {
        "id": "regB",
        "type": "taxonomy",
        "from_name": "tax",
        "to_name": "video",
        "value": {"taxonomy": [["pose", "sit"]]},
    },
    {
        "id": "tl",
        "type": "timelinelabels",
        "from_name": "timeline",
        "to_name": "video",
        "value": {"ranges": [{"start": 51, "end": 52}], "timelinelabels": ["skip"]},
    },
    {
        "id": "c",
        "type": "choices",
        "from_name": "quality",
        "to_name": "video",
        "value": {"choices": ["ok"]},
    },
]


def export(results, cancelled_first=False):
    anns = [{"id": 2, "result": results, "was_cancelled": False}]
    if cancelled_first:
        anns.insert(0, {"id": 1, "result": [], "was_cancelled": True})
    return json.dumps(
        [
            {
                "id": 5,
                "data": {"video": "/data/local-files/?d=videos/walk_1.mp4"},
                "annotations": anns,
                "predictions": [],
            }
        ]
    ).encode()


def test_interpolation_disabled_span_and_hold_to_the_end():
    r = parse_label_studio(
        export([A, B] + EXTRA, cancelled_first=True), "ls.json", mapping=ActionMapping(skip="skip")
    )
    (v,) = r.videos
    assert v.video_id == "walk_1" and v.fps == 25 and v.num_frames == 100 and v.annotated == (0, 99)
    assert [t.track_id for t in v.tracks] == [7, 8]  # regB says 7; regA gets the next id
    t = v.tracks[1]
    at = {f: box_at(t, f) for f in (0, 5, 10, 15, 20, 21, 49, 50, 99)}
    assert at[0].box == pytest.approx((0.1, 0.2, 0.4, 0.6))
    assert at[5].box == pytest.approx((0.15, 0.2, 0.5, 0.6))  # x 10 -> 20, width 30 -> 40: half way
    assert at[10].box == pytest.approx((0.2, 0.2, 0.6, 0.6))
    assert at[15].box == pytest.approx((0.2, 0.25, 0.6, 0.65))  # towards the disabled keyframe
    assert at[20].box == pytest.approx((0.2, 0.3, 0.6, 0.7))  # a disabled keyframe is shown itself
    assert at[21] is None and at[49] is None
    assert at[50].box == pytest.approx((0.0, 0.0, 0.1, 0.1))
    assert at[99].box == pytest.approx((0.0, 0.0, 0.1, 0.1))  # held to the last frame
    assert at[5].actions == {"walk", "talk"}
    assert box_at(v.tracks[0], 4).actions == {"sit"} and box_at(v.tracks[0], 6) is None
    assert v.skip_frames == {50, 51}
    assert r.ignored == {"choices / taxonomy results not tied to a region": 1}


def test_keyframe_rows_at_five_per_second():
    (v,) = parse_label_studio(export([A] + EXTRA[:1]), "ls.json").videos
    rows = build_ava_tables([v], Fraction(5)).rows["walk_1"]
    # fps 25, rate 5: keyframe j on frame 5 j; classes sorted: talk=1, walk=2; person id 0
    assert rows[:9] == [
        "walk_1,0000,0.1000,0.2000,0.4000,0.6000,1,0",
        "walk_1,0000,0.1000,0.2000,0.4000,0.6000,2,0",
        "walk_1,0000.2,0.1500,0.2000,0.5000,0.6000,1,0",
        "walk_1,0000.2,0.1500,0.2000,0.5000,0.6000,2,0",
        "walk_1,0000.4,0.2000,0.2000,0.6000,0.6000,1,0",
        "walk_1,0000.4,0.2000,0.2000,0.6000,0.6000,2,0",
        "walk_1,0000.6,0.2000,0.2500,0.6000,0.6500,1,0",
        "walk_1,0000.6,0.2000,0.2500,0.6000,0.6500,2,0",
        "walk_1,0000.8,0.2000,0.3000,0.6000,0.7000,1,0",
    ]
    assert rows[10:16] == [
        "walk_1,0001",
        "walk_1,0001.2",
        "walk_1,0001.4",
        "walk_1,0001.6",
        "walk_1,0001.8",
        "walk_1,0002,0.0000,0.0000,0.1000,0.1000,1,0",
    ]
    # keyframes 0-4 (frames 0-20) two rows each, 5-9 (frames 25-45) none visible, 10-19 (50-95) two rows
    assert len(rows) == 5 * 2 + 5 + 10 * 2


def test_label_mapping_and_fps_override():
    mapping = ActionMapping(labels={"walk": "walking"})
    (v,) = parse_label_studio(export([A] + EXTRA[:1]), "ls.json", mapping=mapping, fps=50).videos
    assert v.fps == 50
    assert box_at(v.tracks[0], 0).actions == {"walking"}  # "talk" is not in the mapping


def test_regions_of_one_person_merge_and_overlaps_are_errors():
    a = region(
        "a", [kf(1, 0, 0, 10, 10), kf(3, 0, 0, 10, 10, enabled=False)], ["walk"], ["person_id=1"]
    )
    b = region(
        "b", [kf(5, 0, 0, 10, 10), kf(6, 0, 0, 10, 10, enabled=False)], ["run"], ["person_id=1"]
    )
    (v,) = parse_label_studio(export([a, b]), "ls.json").videos
    (t,) = v.tracks
    assert [[fb.frame for fb in s] for s in t.spans] == [[0, 2], [4, 5]]
    c = region("c", [kf(2, 0, 0, 10, 10)], ["run"], ["person_id=1"])
    with pytest.raises(
        InputFileError,
        match=r"^ls.json: at \[0\].annotations\[0\].result\[0\], "
        r"\[0\].annotations\[0\].result\[1\]: regions of person_id=1 overlap in time",
    ):
        parse_label_studio(export([a, c]), "ls.json")


@pytest.mark.parametrize(
    "mutate, where, problem",
    [
        (
            lambda r: r["value"]["sequence"][1].update(x="abc"),
            "[0].annotations[0].result[0].value.sequence[1].x",
            "expected a number, got 'abc'",
        ),
        (
            lambda r: r["value"]["sequence"][0].pop("frame"),
            "[0].annotations[0].result[0].value.sequence[0].frame",
            "missing (a number is required)",
        ),
        (
            lambda r: r["value"]["sequence"][2].update(frame=101),
            "[0].annotations[0].result[0].value.sequence[2].frame",
            "frame 101 outside the video's frames 1..100",
        ),
        (
            lambda r: r["value"]["sequence"][0].update(enabled="yes"),
            "[0].annotations[0].result[0].value.sequence[0].enabled",
            "expected true or false, got 'yes'",
        ),
        (
            lambda r: r["value"].update(sequence={}),
            "[0].annotations[0].result[0].value.sequence",
            "expected an array, got dict",
        ),
    ],
)
def test_errors_name_the_json_path(mutate, where, problem):
    bad = json.loads(json.dumps(A))
    mutate(bad)
    with pytest.raises(InputFileError) as e:
        parse_label_studio(export([bad]), "/x/ls.json")
    assert str(e.value) == f"/x/ls.json: at {where}: {problem}"


def test_malformed_json_names_the_line_and_missing_fps_is_explained():
    with pytest.raises(InputFileError, match=r"^ls.json:3: invalid JSON"):
        parse_label_studio(b'[\n {"id": 1,\n  "data": }\n]', "ls.json")
    no_rate = json.loads(json.dumps(A))
    del no_rate["value"]["framesCount"], no_rate["value"]["duration"]
    with pytest.raises(InputFileError, match=r"no framesCount and duration: pass --fps"):
        parse_label_studio(export([no_rate]), "ls.json")
