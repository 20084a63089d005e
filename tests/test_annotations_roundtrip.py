"""import(export(x)) == x: an AVA dataset imported from CVAT / Label Studio, exported back to the same
tool and imported again gives the same CSV rows, exclusions and classes; detections with scores go out
through thresholds with persons linked across keyframes; the command lines' errors are one line,
exit 2, and leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_script

from ava_detector.ava.annotations.ava_reader import (
    parse_ava_rows,
    videos_from_ava,
)
from ava_detector.ava.annotations.cvat import parse_cvat_video
from ava_detector.ava.annotations.export import (
    to_cvat_xml,
    to_label_studio_tasks,
)
from ava_detector.ava.annotations.label_studio import parse_label_studio
from ava_detector.ava.annotations.tracks import box_at

REPO = Path(__file__).resolve().parents[1]


def script(name):
    return load_script(f"data_prep/{name}.py")


def box(frame, x1, y1, x2, y2, outside=0, **attrs):
    a = "".join(f'<attribute name="{k}">{v}</attribute>' for k, v in attrs.items())
    return (
        f'<box frame="{frame}" outside="{outside}" occluded="0" keyframe="1" xtl="{x1}" ytl="{y1}" '
        f'xbr="{x2}" ybr="{y2}" z_order="0">{a}</box>\n'
    )


CVAT = (
    """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><name>t</name><size>60</size><mode>interpolation</mode>
<start_frame>0</start_frame><stop_frame>59</stop_frame><frame_filter></frame_filter>
<labels><label><name>person</name><attributes>
<attribute><name>run</name><mutable>True</mutable><input_type>checkbox</input_type><default_value>false</default_value><values>false</values></attribute>
<attribute><name>talk</name><mutable>True</mutable><input_type>checkbox</input_type><default_value>false</default_value><values>false</values></attribute>
</attributes></label><label><name>skip</name></label></labels>
<original_size><width>320</width><height>240</height></original_size><source>game.mp4</source></task></meta>
<track id="1" label="person">
"""
    + box(0, 10, 20, 110, 220, run="true")
    + box(9, 40, 20, 140, 220, run="true", talk="true")
    + box(20, 60, 20, 160, 220, talk="true")
    + box(31, 60, 20, 160, 220, outside=1)
    + box(40, 0, 0, 32, 24, run="true")
    + box(59, 0, 0, 64, 48, run="true")
    + """</track>
<track id="2" label="person">
"""
    + box(5, 200, 100, 300, 230, talk="true")
    + box(25, 220, 100, 320, 240, talk="true")
    + box(26, 0, 0, 1, 1, outside=1)
    + """</track>
<tag frame="30" label="skip" source="manual"></tag>
</annotations>
"""
)


def run_import(tmp_path, name, args):
    imp = script("import_annotations")
    assert (
        imp.main(
            [
                str(tmp_path / name),
                "--out",
                str(tmp_path / "ds"),
                "--val-ratio",
                "0",
                "--force",
                *args,
            ]
        )
        == 0
    )
    ann = tmp_path / "ds" / "annotations"
    return (
        (ann / "ava_train_v2.2.csv").read_text(),
        (ann / "ava_train_excluded_timestamps_v2.2.csv").read_text(),
        (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").read_text(),
    )


def test_cvat_round_trip(tmp_path, capsys):
    (tmp_path / "task.xml").write_text(CVAT)
    first = run_import(
        tmp_path, "task.xml", ["--fps", "10", "--skip", "skip", "--keyframe-rate", "2"]
    )
    rows = first[0].splitlines()
    # hand values: frame 5 (0.5 s) is 5/9 of the way from frame 0 to 9: x1 = 10 + 30 * 5/9 = 26.67 px
    # = 0.0833, x2 = 126.67 px = 0.3958; frame 10 is 1/11 of the way from 9 to 20: x1 = 41.82 px
    # = 0.1307, x2 = 0.4432, with the actions of frame 9 (run = 1, talk = 2)
    assert rows[:5] == [
        "game,0000,0.0312,0.0833,0.3438,0.9167,1,1",
        "game,0000.5,0.0833,0.0833,0.3958,0.9167,1,1",
        "game,0000.5,0.6250,0.4167,0.9375,0.9583,2,2",
        "game,0001,0.1307,0.0833,0.4432,0.9167,1,1",
        "game,0001,0.1307,0.0833,0.4432,0.9167,2,1",
    ]
    assert first[1] == "game,0003\n"
    exp = script("export_annotations")
    assert (
        exp.main(["--root", str(tmp_path / "ds"), "--to", "cvat", "--out", str(tmp_path / "cv")])
        == 0
    )
    (tmp_path / "back.xml").write_bytes((tmp_path / "cv" / "game.xml").read_bytes())
    again = run_import(
        tmp_path, "back.xml", ["--fps", "10", "--skip", "skip", "--keyframe-rate", "2"]
    )
    assert again == first


def test_label_studio_round_trip(tmp_path):
    seq = [
        {"frame": 1, "enabled": True, "x": 10, "y": 10, "width": 20, "height": 40},
        {"frame": 21, "enabled": False, "x": 30, "y": 10, "width": 20, "height": 40},
        {"frame": 41, "enabled": True, "x": 50, "y": 50, "width": 10, "height": 10},
    ]
    tasks = [
        {
            "id": 1,
            "data": {"video": "s3://bucket/clips/yard.mp4"},
            "annotations": [
                {
                    "result": [
                        {
                            "id": "r1",
                            "type": "videorectangle",
                            "value": {
                                "framesCount": 60,
                                "duration": 6.0,
                                "sequence": seq,
                                "labels": ["person", "walk"],
                            },
                        },
                        {
                            "id": "r2",
                            "type": "videorectangle",
                            "value": {
                                "framesCount": 60,
                                "duration": 6.0,
                                "sequence": seq[:2],
                                "labels": ["wave"],
                            },
                        },
                        {
                            "id": "t",
                            "type": "timelinelabels",
                            "value": {
                                "ranges": [{"start": 51, "end": 51}],
                                "timelinelabels": ["skip"],
                            },
                        },
                    ]
                }
            ],
        }
    ]
    (tmp_path / "ls.json").write_text(json.dumps(tasks))
    first = run_import(tmp_path, "ls.json", ["--skip", "skip"])
    assert first[0].splitlines()[:3] == [
        "yard,0000,0.1000,0.1000,0.3000,0.5000,1,0",
        "yard,0000,0.1000,0.1000,0.3000,0.5000,2,1",
        "yard,0001,0.2000,0.1000,0.4000,0.5000,1,0",
    ]
    assert first[1] == "yard,0005\n"
    exp = script("export_annotations")
    assert (
        exp.main(
            [
                "--root",
                str(tmp_path / "ds"),
                "--to",
                "label-studio",
                "--out",
                str(tmp_path / "ls_out"),
            ]
        )
        == 0
    )
    exported = json.loads((tmp_path / "ls_out" / "tasks.json").read_text())
    assert exported[0]["data"]["video"] == "videos/yard.mp4"
    (tmp_path / "back.json").write_text(json.dumps(exported))
    again = run_import(tmp_path, "back.json", ["--skip", "skip", "--use-predictions"])
    assert again == first


def test_detections_thresholds_and_linking():
    csv = (
        "v,0001,0.1,0.1,0.3,0.9,1,0.9\nv,0001,0.1,0.1,0.3,0.9,2,0.3\n"
        "v,0001,0.6,0.1,0.8,0.9,2,0.7\n"
        "v,0002,0.12,0.1,0.32,0.9,1,0.8\nv,0002,0.6,0.1,0.8,0.9,1,0.2\n"
    )
    rows = parse_ava_rows(csv, "d.csv", detections=True)
    names = {1: "walk", 2: "wave"}
    from fractions import Fraction

    (v,) = videos_from_ava(
        rows,
        names,
        fps=10,
        rate=Fraction(1),
        detections=True,
        score_thresh=0.5,
        class_thresh={"wave": 0.25},
        width=100,
        height=100,
    )
    assert [t.track_id for t in v.tracks] == [0, 1]
    a, b = v.tracks
    assert [(fb.frame, fb.actions) for s in a.spans for fb in s] == [
        (10, {"walk", "wave"}),
        (20, {"walk"}),
    ]
    assert [(fb.frame, fb.actions) for s in b.spans for fb in s] == [
        (10, {"wave"})
    ]  # 0.2 < 0.5 at 2 s
    assert box_at(a, 15).box == pytest.approx((0.11, 0.1, 0.31, 0.9))  # one span: interpolated
    xml = to_cvat_xml(v, ["walk", "wave"])
    back = parse_cvat_video(xml.encode(), "x.xml", fps=10).videos[0]
    assert [[(fb.frame, fb.actions) for fb in s] for t in back.tracks for s in t.spans] == [
        [(10, {"walk", "wave"}), (20, {"walk"})],
        [(10, {"wave"})],
    ]
    ls = to_label_studio_tasks([v])
    back = parse_label_studio(json.dumps(ls).encode(), "x.json", use_predictions=True).videos[0]
    p0, p1 = back.tracks
    assert [t.track_id for t in back.tracks] == [0, 1]
    assert box_at(p0, 10).actions == {"walk", "wave"} and box_at(p0, 20).actions == {"walk"}
    # the first region closes on frame 19, 9/10 of the way to the next box (x1 0.10 -> 0.12)
    assert box_at(p0, 19).box == pytest.approx((0.118, 0.1, 0.318, 0.9))
    assert (
        box_at(p1, 10).actions == {"wave"} and box_at(p1, 11) is not None and box_at(p1, 12) is None
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "<annotations>\n<meta><task><size>2</size></task></meta>\n<track id='1' label='person'>"
            "<box frame='0' outside='0' xtl='5' ytl='0' xbr='1' ybr='1'/></track></annotations>",
            "bad.xml:3: <box> needs xtl < xbr",
        ),
        (
            '[{"data": {"video": "a.mp4"}, "annotations": [{"result": [{"id": "r", "type": "videorectangle", '
            '"value": {"framesCount": 10, "duration": 1, "sequence": [{"frame": "one"}]}}]}]}]',
            "bad.json: at [0].annotations[0].result[0].value.sequence[0].frame: expected a number, got 'one'",
        ),
    ],
)
def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, content, message):
    name = "bad.xml" if content.startswith("<") else "bad.json"
    (tmp_path / name).write_text(content)
    imp = script("import_annotations")
    rc = imp.main(
        [
            str(tmp_path / name),
            "--out",
            str(tmp_path / "ds"),
            "--fps",
            "10",
            "--width",
            "10",
            "--height",
            "10",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_export_cli_error_and_existing_output(tmp_path, capsys):
    exp = script("export_annotations")
    assert (
        exp.main(
            ["--root", str(tmp_path / "missing"), "--to", "cvat", "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "error: " in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_cli_probes_the_videos_and_writes_frame_lists(tmp_path, capsys):
    import numpy as np

    from ava_detector.utils.video_writer import write_mp4

    (tmp_path / "videos").mkdir()
    write_mp4(tmp_path / "videos" / "yard.mp4", [np.zeros((24, 32, 3), np.uint8)] * 20, fps=10)
    via = {
        "attribute": {"1": {"aname": "act", "type": 2, "options": {"0": "walk"}}},
        "file": {"1": {"fid": "1", "fname": "yard.mp4", "type": 4}},
        "view": {"1": {"fid_list": ["1"]}},
        "metadata": {"a": {"vid": "1", "z": [1.0], "xy": [2, 8, 6, 16, 12], "av": {"1": "0"}}},
    }
    (tmp_path / "p.json").write_text(json.dumps(via))
    frames = tmp_path / "frames" / "yard"
    frames.mkdir(parents=True)
    for i in range(20):
        (frames / f"yard_{i + 1:06d}.jpg").write_bytes(b"")
    imp = script("import_annotations")
    assert (
        imp.main(
            [
                str(tmp_path / "p.json"),
                "--out",
                str(tmp_path / "ds"),
                "--videos-dir",
                str(tmp_path / "videos"),
                "--frames-dir",
                str(tmp_path / "frames"),
            ]
        )
        == 0
    )
    ds = tmp_path / "ds"
    # probed: 10 fps, 32 x 24 px; the box (8, 6, 16 x 12) at 1 s is frame 10
    assert (
        ds / "annotations" / "ava_train_v2.2.csv"
    ).read_text() == "yard,0001,0.2500,0.2500,0.7500,0.7500,1,0\n"
    info = json.loads((ds / "dataset.json").read_text())
    assert (info["fps"], info["width"], info["height"]) == (10.0, 32, 24)
    lines = (ds / "frame_lists" / "train.csv").read_text().splitlines()
    assert lines[0] == "original_vido_id video_id frame_id path labels" and len(lines) == 21
    assert lines[11] == 'yard 0 10 yard/yard_000011.jpg ""'
    assert (ds / "frames").resolve() == (tmp_path / "frames").resolve()
    assert (ds / "videos").resolve() == (tmp_path / "videos").resolve()


def test_cli_reads_cvat_zip_and_rejects_duplicate_videos_and_bad_mappings(tmp_path, capsys):
    import zipfile

    with zipfile.ZipFile(tmp_path / "task.zip", "w") as z:
        z.writestr("annotations.xml", CVAT)
    (tmp_path / "copy.xml").write_text(CVAT)
    imp = script("import_annotations")
    out = str(tmp_path / "ds")
    assert (
        imp.main([str(tmp_path / "task.zip"), "--out", out, "--fps", "10", "--val-ratio", "0"]) == 0
    )
    assert (
        (tmp_path / "ds" / "annotations" / "ava_train_v2.2.csv")
        .read_text()
        .startswith("game,0000,")
    )
    capsys.readouterr()
    assert (
        imp.main(
            [
                str(tmp_path / "task.zip"),
                str(tmp_path / "copy.xml"),
                "--out",
                str(tmp_path / "d2"),
                "--fps",
                "10",
            ]
        )
        == 2
    )
    assert capsys.readouterr().err == "error: video id 'game' comes from two inputs\n"
    (tmp_path / "m.yaml").write_text("person_label: person\nactions: [a]\n")
    assert (
        imp.main(
            [
                str(tmp_path / "copy.xml"),
                "--out",
                str(tmp_path / "d3"),
                "--fps",
                "10",
                "--mapping",
                str(tmp_path / "m.yaml"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'm.yaml'}: unknown key(s) ['actions']")
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists()
