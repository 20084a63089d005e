"""What a new user hits: snapshot at 29.97 fps, box timestamps that match no keyframe, --dataset with
the config's roots, action names from the config's test set, labels that do not cover each other,
one colour per track, action segments and per-class thresholds."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import load_tool

from ava_detector.ava.data.synthetic import generate_synthetic_ava
from ava_detector.data.errors import InputFileError
from ava_detector.data.synthetic_scene import SceneSpec
from ava_detector.demo.drawing import (
    place_labels,
    top_actions,
    track_colour,
)
from ava_detector.demo.thresholds import (
    best_f1_threshold,
    calibrate_from_csv,
    load_thresholds,
    save_thresholds,
)
from ava_detector.demo.tracks_output import action_segments, smooth_scores
from tests.test_tracking_video import tiny_model

REPO = Path(__file__).resolve().parents[1]
VID = "syn_val_000"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Two synthetic sets with the same video ids but other persons (seeds 0 and 5), a tiny model."""
    root = tmp_path_factory.mktemp("fixes")
    for name, seed in (("a", 0), ("b", 5)):
        generate_synthetic_ava(
            root / name,
            train_videos=0,
            val_videos=1,
            spec=SceneSpec(duration=4),
            seed=seed,
            progress=False,
        )
    tiny_model(root)
    return root


def _run(env: Path, out: Path, *extra: str) -> int:
    return load_tool("demo").main(
        [
            "--config",
            str(env / "tiny.yaml"),
            "--weights",
            str(env / "model.pth"),
            "--output",
            str(out),
            "--no-progress",
            *extra,
        ]
    )


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_snapshot_is_written_at_29_97_fps(env, tmp_path):
    """Frames at i * 1001/30000 s: keyframe 1.0 s shows frame 29 (0.968 s), already written when the
    keyframe is processed; the snapshot is the first frame drawn with its boxes, frame 30 (1.001 s)."""
    rgb = [np.full((120, 160, 3), 30 + 3 * i, np.uint8) for i in range(60)]
    path = tmp_path / "ntsc.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(30000, 1001))
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for f in rgb:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    (tmp_path / "boxes.csv").write_text("ntsc,0001,0.2,0.2,0.6,0.9,12,0\n")
    snap = tmp_path / "snap.png"
    assert (
        _run(
            env,
            tmp_path / "o.mp4",
            "--input",
            str(path),
            "--boxes",
            str(tmp_path / "boxes.csv"),
            "--snapshot",
            str(snap),
        )
        == 0
    )
    assert snap.is_file()
    shot = cv2.cvtColor(cv2.imread(str(snap)), cv2.COLOR_BGR2RGB).astype(int)
    out = _frames(tmp_path / "o.mp4")
    diffs = [np.abs(shot - out[i]).mean() for i in (28, 29, 30, 31)]
    assert int(np.argmin(diffs)) == 2, diffs


def test_boxes_matching_no_keyframe_say_which_timestamps(env, tmp_path, capsys):
    """The synthetic CSV annotates 0101 (0102 is left out); without --start-sec the keyframes are
    0000..0003."""
    rc = _run(
        env,
        tmp_path / "o.mp4",
        "--input",
        str(env / f"a/videos/{VID}.mp4"),
        "--boxes",
        str(env / "a/annotations/ava_val_v2.2.csv"),
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert (
        "ava_val_v2.2.csv" in err
        and "has 0101 (1 second)" in err
        and "0000..0003" in err
        and "--start-sec" in err
    )
    assert not (tmp_path / "o.mp4").exists()


def test_dataset_follows_the_configured_root(env, tmp_path, capsys):
    """--dataset with AVA.SYNTHETIC_ROOT=b uses b's boxes for b's video, and refuses a's video of the
    same id (its boxes would be b's persons)."""
    out = tmp_path / "b.mp4"
    assert (
        _run(
            env,
            out,
            "--input",
            str(env / f"b/videos/{VID}.mp4"),
            "--dataset",
            "ava_synthetic_val",
            "AVA.SYNTHETIC_ROOT",
            str(env / "b"),
        )
        == 0
    )
    got = json.loads((tmp_path / "b_keyframes" / f"{VID}_0101.json").read_text())
    want = sorted(
        {
            tuple(round(float(v), 3) for v in line.split(",")[2:6])
            for line in (env / "b/annotations/ava_val_v2.2.csv").read_text().splitlines()
            if line.split(",")[1] == "0101"
        }
    )
    assert sorted(tuple(round(v, 3) for v in p["box"]) for p in got["persons"]) == want
    other = sorted(
        {
            tuple(round(float(v), 3) for v in line.split(",")[2:6])
            for line in (env / "a/annotations/ava_val_v2.2.csv").read_text().splitlines()
            if line.split(",")[1] == "0101"
        }
    )
    assert other != want  # the two sets really differ
    rc = _run(
        env,
        tmp_path / "a.mp4",
        "--input",
        str(env / f"a/videos/{VID}.mp4"),
        "--dataset",
        "ava_synthetic_val",
        "AVA.SYNTHETIC_ROOT",
        str(env / "b"),
    )
    assert rc == 2 and "not the input" in capsys.readouterr().err


def test_action_names_come_from_the_config_test_set(env, tmp_path):
    out = tmp_path / "n.mp4"
    assert (
        _run(
            env,
            out,
            "--input",
            str(env / f"a/videos/{VID}.mp4"),
            "--boxes",
            str(env / "a/annotations/ava_val_v2.2.csv"),
            "--start-sec",
            "100",
            "DATASETS.TEST",
            "('ava_synthetic_val',)",
            "AVA.SYNTHETIC_ROOT",
            str(env / "a"),
        )
        == 0
    )
    payload = json.loads((tmp_path / "n_keyframes" / f"{VID}_0101.json").read_text())
    names = {a["name"] for p in payload["persons"] for a in p["actions"]}
    # the synthetic label map names its 6 actions; nothing falls back to "action N"
    assert names and names <= {
        "stand",
        "walk",
        "run/jog",
        "jump/leap",
        "hand wave",
        "carry/hold (an object)",
    }


def test_labels_do_not_overlap():
    boxes = np.array([[10, 30, 50, 100], [14, 32, 54, 102], [12, 28, 52, 98], [100, 30, 140, 100]])
    rects = place_labels(boxes, [(40, 12)] * 4, height=120, width=160)
    for i in range(4):
        x1, y1, x2, y2 = rects[i]
        assert 0 <= x1 and x2 <= 160 and 0 <= y1 and y2 <= 120 and (x2 - x1, y2 - y1) == (40, 12)
        for j in range(i):
            a = rects[j]
            assert not (x1 < a[2] and a[0] < x2 and y1 < a[3] and a[1] < y2), (i, j, rects)
    assert rects[0] == (10, 17, 50, 29)  # above its box (y1 - 12 - 1)
    assert rects[3] == (100, 17, 140, 29)  # a label far from the others stays above its box


def test_track_colours_differ():
    colours = [track_colour(i) for i in range(12)]
    assert len(set(colours)) == 12
    assert track_colour(None) == (0, 255, 0) == track_colour(-1)


def test_smoothing_and_segments_hand_computed():
    scores = np.zeros((6, 3))
    scores[:, 0] = [0.9, 0.9, 0.1, 0.9, 0.9, 0.9]  # one dip
    scores[:, 2] = [0.0, 0.6, 0.6, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(
        smooth_scores(scores, 3)[:, 0], [0.9, 1.9 / 3, 1.9 / 3, 1.9 / 3, 0.9, 0.9]
    )
    ts = [100, 101, 102, 103, 104, 105]
    thr = np.array([0.5, 0.5, 0.5])
    names = {1: "a", 3: "c"}
    raw = action_segments(ts, scores, thr, names)
    assert [(s["name"], s["start"], s["end"]) for s in raw] == [
        ("a", 100, 101),
        ("c", 101, 102),
        ("a", 103, 105),
    ]
    smooth = action_segments(ts, scores, thr, names, smooth=3)
    # the dip is smoothed over (1.9/3 = 0.633); c: (0 + .6 + .6) / 3 = 0.4 at 101 and 102 < 0.5
    assert [(s["name"], s["start"], s["end"], s["keyframes"]) for s in smooth] == [
        ("a", 100, 105, 6)
    ]
    # per-class threshold 0.3 for c: smoothed c is .3 (ends average 2), .4, .4, .2, 0, 0
    smooth = action_segments(ts, scores, np.array([0.5, 0.5, 0.3]), names, smooth=3)
    assert [(s["name"], s["start"], s["end"]) for s in smooth] == [("a", 100, 105), ("c", 100, 102)]


def test_per_class_thresholds_in_top_actions():
    scores = np.zeros(80)
    scores[[11, 13]] = [0.4, 0.3]
    thr = np.full(80, 0.5)
    thr[13] = 0.2
    assert top_actions(scores, {}, 3, thr) == [(14, "action 14", 0.3)]
    assert top_actions(scores, {}, 3, 0.1) == [(12, "action 12", 0.4), (14, "action 14", 0.3)]


def test_best_f1_threshold_hand_computed():
    # scores .9 .8 .7 .6 with labels 1 0 1 0 and 3 positives (one box missed):
    # t=.9: P 1, R 1/3, F1 .5; t=.7: tp 2 of 3 kept, R 2/3, F1 2*2/(3+3) = .667; t=.6: 2*2/(4+3) = .571
    t, f1 = best_f1_threshold(np.array([0.6, 0.9, 0.7, 0.8]), np.array([0, 1, 1, 0], bool), 3)
    assert t == pytest.approx(0.7) and f1 == pytest.approx(2 / 3)
    assert np.isnan(best_f1_threshold(np.array([0.5]), np.array([False]), 0)[0])


def test_calibrate_save_and_load(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text(
        "v,0001,0.1,0.1,0.4,0.9,12,0\nv,0001,0.5,0.1,0.9,0.9,14,1\nv,0002,0.1,0.1,0.4,0.9,12,0\n"
    )
    det = tmp_path / "det.csv"
    rows = []
    for sec, box, s12, s14 in [
        ("0001", "0.1,0.1,0.4,0.9", 0.8, 0.3),
        ("0001", "0.5,0.1,0.9,0.9", 0.6, 0.7),
        ("0002", "0.12,0.1,0.42,0.9", 0.9, 0.1),
    ]:
        rows += [f"v,{sec},{box},12,{s12}", f"v,{sec},{box},14,{s14}"]
    det.write_text("\n".join(rows) + "\n")
    thr, f1 = calibrate_from_csv(det, gt, num_classes=80, default=0.5)
    # 12: scores .9 (tp), .8 (tp), .6 (fp) of 2 positives -> best at .8 (F1 1); 14: .7 (tp) -> .7
    assert thr[11] == pytest.approx(0.8) and f1[11] == pytest.approx(1.0)
    assert thr[13] == pytest.approx(0.7) and f1[13] == pytest.approx(1.0)
    assert thr[0] == 0.5 and np.isnan(f1[0])
    path = save_thresholds(tmp_path / "thresholds.json", thr, f1, {12: "stand"}, source="det.csv")
    np.testing.assert_allclose(load_thresholds(path, 80), thr)
    (tmp_path / "bad.json").write_text('{"thresholds": {"99": 0.5}}')
    with pytest.raises(InputFileError, match="bad.json.*outside 1..80"):
        load_thresholds(tmp_path / "bad.json", 80)


def test_calibrate_tool_writes_next_to_the_weights_and_the_demo_uses_it(env, tmp_path, capsys):
    """Thresholds 1.0 for every action but 12 (at 0): the demo's JSON and tracks list only 12."""
    weights_dir = tmp_path / "model"
    weights_dir.mkdir()
    (weights_dir / "model.pth").write_bytes((env / "model.pth").read_bytes())
    gt = tmp_path / "gt.csv"
    gt.write_text("v,0001,0.1,0.1,0.4,0.9,12,0\n")
    det = tmp_path / "det.csv"
    det.write_text(
        "".join(f"v,0001,0.1,0.1,0.4,0.9,{a},{0.9 if a == 12 else 0.5}\n" for a in (12, 14))
    )
    assert (
        load_tool("calibrate_thresholds").main(
            [
                "--detections",
                str(det),
                "--groundtruth",
                str(gt),
                "--weights",
                str(weights_dir / "model.pth"),
                "--default",
                "1.0",
            ]
        )
        == 0
    )
    saved = json.loads((weights_dir / "thresholds.json").read_text())
    assert saved["thresholds"]["12"] == 0.9 and saved["thresholds"]["14"] == 1.0
    saved["thresholds"]["12"] = 0.0
    (weights_dir / "thresholds.json").write_text(json.dumps(saved))
    out = tmp_path / "t.mp4"
    rc = load_tool("demo").main(
        [
            "--config",
            str(env / "tiny.yaml"),
            "--weights",
            str(weights_dir / "model.pth"),
            "--output",
            str(out),
            "--no-progress",
            "--input",
            str(env / f"a/videos/{VID}.mp4"),
            "--boxes",
            str(env / "a/annotations/ava_val_v2.2.csv"),
            "--start-sec",
            "100",
        ]
    )
    assert rc == 0 and "per-action thresholds from" in capsys.readouterr().err
    payload = json.loads((tmp_path / "t_keyframes" / f"{VID}_0101.json").read_text())
    assert payload["persons"] and all(
        [a["id"] for a in p["actions"]] == [12] for p in payload["persons"]
    )
    tracks = json.loads((tmp_path / "tracks.json").read_text())["tracks"]
    assert {s["id"] for t in tracks for s in t["segments"]} == {12}
    (tmp_path / "bad.json").write_text("{")
    rc = load_tool("demo").main(
        [
            "--config",
            str(env / "tiny.yaml"),
            "--weights",
            str(env / "model.pth"),
            "--output",
            str(out),
            "--no-progress",
            "--input",
            str(env / f"a/videos/{VID}.mp4"),
            "--boxes",
            str(env / "a/annotations/ava_val_v2.2.csv"),
            "--start-sec",
            "100",
            "--thresholds",
            str(tmp_path / "bad.json"),
        ]
    )
    assert rc == 2 and "bad.json: not a thresholds JSON" in capsys.readouterr().err
